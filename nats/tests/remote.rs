//! Addressing by name across nodes: export, tell, acknowledged tell, ask, the cluster registry,
//! membership, and what a node refuses. Several nodes in one process (each its own
//! `NatsBroker` and name) against a real nats-server with TLS and authentication; the
//! multi-process forms are in `cluster.rs`.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use futures::StreamExt;
use playhouse_core::mailbox::{Block, Bounded, Reject};
use playhouse_core::{
    Actor, ActorRef, Context, DeadLetterKind, Env, Handler, LookupError, MessageBroker, Reply,
    System,
};
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{
    ConnectError, ExportError, LeaveReason, MemberEvent, NatsBroker, NodeConfig, Rejection,
    RemoteError,
};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Add(u64);
#[derive(Debug, Serialize, Deserialize)]
struct Get;
#[derive(Debug, Serialize, Deserialize)]
struct Blob(Vec<u8>);
/// Asks for an answer of this many bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Fill(u64);

enum Msg {
    Add(u64),
    Get(Reply<u64>),
    Hold(Reply<()>),
    Drop(Reply<u64>),
    Fill(u64, Reply<Vec<u8>>),
}

impl From<Add> for Msg {
    fn from(a: Add) -> Msg {
        Msg::Add(a.0)
    }
}

impl From<Blob> for Msg {
    fn from(b: Blob) -> Msg {
        Msg::Add(b.0.len() as u64)
    }
}

struct Counter {
    total: u64,
    release: Option<futures::channel::oneshot::Receiver<()>>,
}

impl Counter {
    fn new() -> Self {
        Counter {
            total: 0,
            release: None,
        }
    }
}

impl Actor for Counter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add(n) => self.total += n,
            Msg::Get(reply) => {
                let _ = reply.send(self.total);
            }
            Msg::Hold(reply) => {
                let _ = reply.send(());
                if let Some(release) = self.release.take() {
                    let _ = release.await;
                }
            }
            Msg::Drop(reply) => drop(reply),
            Msg::Fill(n, reply) => {
                let _ = reply.send(vec![1; n as usize]);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct DropIt;
#[derive(Debug, Serialize, Deserialize)]
struct HoldIt;

fn config(server: &TestServer, node: &str) -> NodeConfig {
    server
        .node_config(node)
        .heartbeat(Duration::from_millis(200), Duration::from_secs(1))
}

async fn node(server: &TestServer, name: &str) -> NatsBroker {
    NatsBroker::connect(config(server, name))
        .await
        .unwrap_or_else(|e| panic!("node {name}: {e}\n{}", server.log()))
}

fn system(broker: &NatsBroker) -> System<TokioExecutor, NatsBroker> {
    System::with_broker(TokioExecutor::current(), broker.clone())
}

async fn export_counter(broker: &NatsBroker, name: &str, counter: &ActorRef<Counter>) {
    broker
        .export(name, counter)
        .tell::<Add>()
        .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
        .ask::<DropIt, u64>(|DropIt, reply| Msg::Drop(reply))
        .ask::<HoldIt, ()>(|HoldIt, reply| Msg::Hold(reply))
        .ask::<Fill, Vec<u8>>(|Fill(n), reply| Msg::Fill(n, reply))
        .start()
        .await
        .expect("the name is free");
}

/// Waits until `cond` holds (polling), at most `WAIT`.
/// Nodes `a` and `b`, with a `Counter` exported from `a` as "counter".
async fn counter_on_a(server: &TestServer) -> (NatsBroker, NatsBroker, ActorRef<Counter>) {
    let a = node(server, "a").await;
    let b = node(server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    (a, b, counter)
}

/// Every dead letter `broker` reports from now on.
fn dead_letters_of(
    broker: &NatsBroker,
) -> std::sync::Arc<std::sync::Mutex<Vec<playhouse_core::DeadLetter>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = seen.clone();
    broker.on_dead_letter(move |letter| hook.lock().unwrap().push(letter.clone()));
    seen
}

async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut cond: F) {
    let until = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < until,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tell_and_ask_by_name_across_nodes() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;

    let add = b.remote::<Add>("counter");
    for i in 1..=10 {
        add.tell(Add(i)).await.expect("handed to NATS");
    }
    add.tell_acked(Add(45), WAIT).await.expect("in the mailbox");
    // Tells from one node to one actor arrive in order, before the ask that follows them.
    let total: u64 = b.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 100);
    // The same from the exporting node itself.
    let total: u64 = a.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 100);
}

#[tokio::test]
async fn a_name_is_taken_once_in_the_cluster_and_freed_when_its_actor_ends() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let first = system(&a).spawn(Counter::new());
    let second = system(&b).spawn(Counter::new());
    export_counter(&a, "counter", &first).await;

    let taken = b.export("counter", &second).tell::<Add>().start().await;
    assert_eq!(
        taken.unwrap_err(),
        ExportError::NameTaken {
            name: "counter".into(),
            owner: "a".into()
        }
    );
    let found = b
        .registration("counter")
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(found.node, "a");
    assert!(found.actor_type.ends_with("Counter"));

    first.stop();
    eventually("the name is released", async || {
        b.registration("counter").await.unwrap().is_none()
    })
    .await;
    // A send to it now finds nobody.
    let err = b
        .remote::<Get>("counter")
        .ask::<u64>(Get, WAIT)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    // The name is free for another node.
    export_counter(&b, "counter", &second).await;
    let total: u64 = a.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn a_leaving_node_takes_its_names_with_it_and_the_others_see_it_leave() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    eventually("both see each other", async || {
        a.members() == ["a", "b"] && b.members() == ["a", "b"]
    })
    .await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    let mut events = b.member_events();

    a.leave().await;
    let event = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    assert_eq!(
        event,
        Some(MemberEvent::Left {
            node: "a".into(),
            reason: LeaveReason::Left
        })
    );
    assert_eq!(b.members(), ["b"]);
    assert!(a.members().is_empty(), "a no longer follows the cluster");
    assert!(!a.is_member("a") && !a.is_member("b"));
    eventually("a's name is gone", async || {
        b.registration("counter").await.unwrap().is_none()
    })
    .await;
    // The actor itself keeps running; only its export ended.
    assert!(counter.is_alive());

    // A node that left sends nothing more: each send fails at once, the message handed back
    // (an ask is not sent, to be handled with no inbox left to take its answer).
    let c = node(&server, "c").await;
    let other = system(&c).spawn(Counter::new());
    export_counter(&c, "other", &other).await;
    match a.remote::<Add>("other").tell(Add(1)).await {
        Err(RemoteError::Disconnected(Add(1))) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let started = tokio::time::Instant::now();
    match a.remote::<Get>("other").ask::<u64>(Get, WAIT).await {
        Err(RemoteError::Disconnected(Get)) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(started.elapsed() < WAIT, "refused at once, not timed out");
    match a.sharded_ref::<Add>("group").tell("k", Add(2), WAIT).await {
        Err(RemoteError::Disconnected(Add(2))) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Nor does it serve anything more.
    let late = system(&a).spawn(Counter::new());
    let refused = a.export("late", &late).tell::<Add>().start().await;
    assert_eq!(refused.map(|_| ()), Err(ExportError::Left));
    assert_eq!(
        c.remote::<Get>("other").ask::<u64>(Get, WAIT).await.ok(),
        Some(0)
    );
    c.leave().await;
}

#[tokio::test]
async fn an_ask_waiting_when_its_node_leaves_ends_at_once() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let (release, held) = futures::channel::oneshot::channel();
    let counter = system(&a).spawn(Counter {
        total: 0,
        release: Some(held),
    });
    export_counter(&a, "counter", &counter).await;
    // The counter answers this, then holds until released: the next ask waits in its mailbox.
    a.remote::<HoldIt>("counter")
        .ask::<()>(HoldIt, WAIT)
        .await
        .expect("held");
    let asker = b.clone();
    let waiting = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let answer = asker.remote::<Get>("counter").ask::<u64>(Get, WAIT).await;
        (answer, started.elapsed())
    });
    // Until the ask is on its way (the counter's mailbox holds it).
    eventually("the ask queued", async || counter.mailbox_len() == 1).await;
    b.leave().await;
    let (answer, waited) = waiting.await.expect("the asking task");
    match answer {
        Err(e @ RemoteError::InboxClosed) => {
            assert_eq!(e.into_message().map(|_| ()), None, "sent: not handed back");
        }
        other => panic!("expected InboxClosed, got {other:?}"),
    }
    assert!(waited < WAIT, "ended by the leave, not by its timeout");
    let _ = release.send(());
    a.leave().await;
}

/// A node that comes back under its name (a new process, or a new connection of this one) never
/// takes an answer meant for its earlier incarnation: both listen on the node's inbox, and the
/// answers are told apart by their asks' correlation ids, which each incarnation starts at a
/// random number. (They started at 1, so the earlier incarnation's late answer was handed to
/// the new incarnation's first ask.)
#[tokio::test]
async fn an_answer_for_an_earlier_incarnation_of_a_node_never_reaches_the_next() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let (release, held) = futures::channel::oneshot::channel();
    let counter = system(&a).spawn(Counter {
        total: 0,
        release: Some(held),
    });
    export_counter(&a, "counter", &counter).await;
    a.remote::<HoldIt>("counter")
        .ask::<()>(HoldIt, WAIT)
        .await
        .expect("held");
    // The first incarnation of "b" asks, gives up, and leaves; its ask stays queued.
    let first = node(&server, "b").await;
    let gave_up = first
        .remote::<Get>("counter")
        .ask::<u64>(Get, Duration::from_millis(200))
        .await;
    assert!(matches!(gave_up, Err(RemoteError::Timeout)), "{gave_up:?}");
    first.leave().await;
    counter.tell(Msg::Add(5)).await.unwrap();
    // The next incarnation asks behind them: its answer is 5; the earlier ask's, 0, comes first.
    let next = node(&server, "b").await;
    let asking = tokio::spawn(async move {
        let answer = next.remote::<Get>("counter").ask::<u64>(Get, WAIT).await;
        next.leave().await;
        answer
    });
    eventually("the next ask queued", async || counter.mailbox_len() == 3).await;
    let _ = release.send(());
    assert_eq!(asking.await.expect("the asking task").ok(), Some(5));
    a.leave().await;
}

/// The same for the refusals of plain tells: a refusal of a tell of the earlier incarnation,
/// arriving after the next one connected, is not counted as a dead letter of the next one
/// (the message types' numbers in the refusal subjects restarted at 0 with each process).
#[tokio::test]
async fn a_refusal_for_an_earlier_incarnation_of_a_node_is_not_its_successors_dead_letter() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let (release, held) = futures::channel::oneshot::channel();
    let counter = system(&a)
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(Counter {
            total: 0,
            release: Some(held),
        });
    export_counter(&a, "slow", &counter).await;
    let first = node(&server, "b").await;
    first
        .remote::<HoldIt>("slow")
        .ask::<()>(HoldIt, WAIT)
        .await
        .expect("held");
    // One tell fills the mailbox, the export waits for room with the next, and a tell of a
    // type the export does not take waits behind it: its refusal comes once the counter goes on.
    first.remote::<Add>("slow").tell(Add(1)).await.unwrap();
    first.remote::<Add>("slow").tell(Add(2)).await.unwrap();
    first.remote::<u32>("slow").tell(7).await.unwrap();
    eventually("the mailbox full", async || counter.mailbox_len() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.leave().await;
    let next = node(&server, "b").await;
    let seen = dead_letters_of(&next);
    let _ = release.send(());
    eventually("the tells handled", async || {
        a.remote::<Get>("slow").ask::<u64>(Get, WAIT).await.ok() == Some(3)
    })
    .await;
    // The refusal has had its time to arrive (it was sent before the answer above).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), []);
    next.leave().await;
    a.leave().await;
}

#[tokio::test]
async fn a_sharded_group_nobody_serves_is_not_found_once_the_timeout_passes() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let nobody = a.sharded_ref::<Add>("nobody");
    // Whatever the timeout, against the sender's retry pause: never a `Timeout`, which would
    // say that the message may have been handled.
    for ms in [60, 120, 400] {
        match nobody.tell("k", Add(ms), Duration::from_millis(ms)).await {
            Err(RemoteError::NotFound { name, msg }) => {
                assert_eq!(name, "nobody/k");
                assert_eq!(msg, Add(ms));
            }
            other => panic!("{ms} ms: expected NotFound, got {other:?}"),
        }
    }
    a.leave().await;
}

#[tokio::test]
async fn a_name_that_is_not_a_subject_token_is_refused_before_anything_is_sent() {
    let server = TestServer::start().expect("nats-server");
    let (a, b, counter) = counter_on_a(&server).await;
    let mut events = b.member_events();
    // Spaces, line breaks and dots would be written into the protocol line or the subject:
    // they could end the node's connection or smuggle a command into it.
    for name in [
        "has space",
        "line\r\nPUB playhouse.actor.counter 0",
        "a.b",
        "",
        "*",
    ] {
        match b.remote::<Add>(name).tell(Add(1)).await {
            Err(RemoteError::InvalidName {
                name: n,
                msg: Add(1),
            }) => assert_eq!(n, name),
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
        match b.remote::<Get>(name).ask::<u64>(Get, WAIT).await {
            Err(e @ RemoteError::InvalidName { .. }) => {
                assert!(e.to_string().contains("is not a valid name"), "{e}")
            }
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
        assert!(matches!(
            b.pool::<Add>(name).tell_acked(Add(2), WAIT).await,
            Err(RemoteError::InvalidName { msg: Add(2), .. })
        ));
        assert!(matches!(
            b.sharded_ref::<Add>(name).tell("k", Add(3), WAIT).await,
            Err(RemoteError::InvalidName { msg: Add(3), .. })
        ));
        assert!(matches!(
            b.lookup_remote::<Add>(name).await,
            Err(LookupError::NotFound { .. })
        ));
    }
    // Nothing reached the counter, and the connection never dropped.
    b.remote::<Add>("counter").tell(Add(5)).await.unwrap();
    assert_eq!(
        b.remote::<Get>("counter").ask::<u64>(Get, WAIT).await.ok(),
        Some(5)
    );
    assert_eq!(counter.ask(Msg::Get).await.unwrap(), 5);
    let event = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
    assert!(event.is_err(), "no membership event: {event:?}");
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn lookup_remote_checks_the_registry_and_the_type() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;

    let add = b.lookup_remote::<Add>("counter").await.expect("takes Add");
    add.tell_acked(Add(3), WAIT).await.unwrap();
    assert!(b.lookup_remote::<Get>("counter").await.is_ok());
    assert!(matches!(
        b.lookup_remote::<u32>("counter").await,
        Err(LookupError::WrongType { .. })
    ));
    assert!(matches!(
        b.lookup_remote::<Add>("nobody").await,
        Err(LookupError::NotFound { .. })
    ));
}

/// Types whose names are over 255 bytes (their module's name alone is 241), alike in all
/// but their last letter: the wire shortens their tags, and must keep them apart.
#[allow(non_snake_case)]
mod a_module_whose_name_is_long_enough_that_the_names_of_the_types_inside_it_are_over_the_two_hundred_and_fifty_five_bytes_a_type_tag_takes_on_the_wire_so_that_the_tags_of_two_of_them_alike_in_their_first_two_hundred_and_fifty_five_bytes_must_differ {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct ReqA(pub u64);
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct ReqB(pub u64);
}
use a_module_whose_name_is_long_enough_that_the_names_of_the_types_inside_it_are_over_the_two_hundred_and_fifty_five_bytes_a_type_tag_takes_on_the_wire_so_that_the_tags_of_two_of_them_alike_in_their_first_two_hundred_and_fifty_five_bytes_must_differ::{ReqA, ReqB};

impl From<ReqA> for Msg {
    fn from(a: ReqA) -> Msg {
        Msg::Add(a.0)
    }
}

#[tokio::test]
async fn long_type_names_keep_their_type_check() {
    assert!(std::any::type_name::<ReqA>().len() > 255);
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    a.export("long", &counter)
        .tell::<ReqA>()
        .ask::<ReqA, u64>(|ReqA(n), reply| {
            let _ = reply.send(n);
            Msg::Add(0)
        })
        .start()
        .await
        .expect("the name is free");

    assert_eq!(
        b.remote::<ReqA>("long")
            .ask::<u64>(ReqA(7), WAIT)
            .await
            .ok(),
        Some(7)
    );
    b.remote::<ReqA>("long")
        .tell_acked(ReqA(2), WAIT)
        .await
        .expect("taken");
    // The other type, alike in its first 255 bytes: refused, not read as a `ReqA`.
    assert!(matches!(
        b.remote::<ReqB>("long").tell_acked(ReqB(5), WAIT).await,
        Err(RemoteError::Rejected {
            reason: Rejection::WrongType { .. },
            msg: ReqB(5)
        })
    ));
    // An ask expecting another answer type, its `->R` past the first 255 bytes.
    assert!(matches!(
        b.remote::<ReqA>("long").ask::<bool>(ReqA(1), WAIT).await,
        Err(RemoteError::Rejected {
            reason: Rejection::WrongType { .. },
            msg: ReqA(1)
        })
    ));
    assert!(b.lookup_remote::<ReqA>("long").await.is_ok());
    assert!(matches!(
        b.lookup_remote::<ReqB>("long").await,
        Err(LookupError::WrongType { .. })
    ));
    assert_eq!(
        counter.ask(Msg::Get).await.unwrap(),
        2,
        "only ReqA(2) was added"
    );

    // An ask as an older build wrote it: the type's name cut to 255 bytes, the message type
    // alone. Still served (without the answer-type check). Kind 2 (ask), correlation 1.
    let name = std::any::type_name::<ReqA>();
    let mut old_ask = vec![b'P', 1, 2, 1, 255];
    old_ask.extend_from_slice(&name.as_bytes()[..255]);
    old_ask.extend_from_slice(&postcard::to_allocvec(&ReqA(9)).unwrap());
    let raw = server.connect().await.unwrap();
    let answer = raw
        .request("playhouse.actor.long", old_ask.into())
        .await
        .expect("an answer");
    assert_eq!(answer.payload[2], 3, "a reply: {:?}", answer.payload);
    let body_at = 5 + usize::from(answer.payload[4]);
    let n: u64 = postcard::from_bytes(&answer.payload[body_at..]).expect("a u64");
    assert_eq!(n, 9);
}

#[tokio::test]
async fn refusals_are_typed_and_hand_the_message_back() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;

    // A type the actor does not take.
    match b.remote::<u32>("counter").ask::<u64>(7, WAIT).await {
        Err(RemoteError::Rejected {
            reason: Rejection::WrongType { got, accepted, .. },
            msg: 7,
        }) => {
            assert_eq!(got, "ask:u32->u64");
            assert!(
                accepted
                    .iter()
                    .any(|a| a.starts_with("tell:") && a.ends_with("Add"))
            );
        }
        other => panic!("{other:?}"),
    }
    // A tell type used as an ask: the refusal says how it was sent, beside what is taken.
    match b.remote::<Add>("counter").ask::<u64>(Add(1), WAIT).await {
        Err(RemoteError::Rejected {
            reason: reason @ Rejection::WrongType { .. },
            msg: Add(1),
        }) => {
            let text = reason.to_string();
            assert!(text.contains("does not accept ask:"), "{text}");
            assert!(text.contains("Add->u64 (it accepts: tell:"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // The handler drops the reply port.
    assert!(matches!(
        b.remote::<DropIt>("counter").ask::<u64>(DropIt, WAIT).await,
        Err(RemoteError::NoReply(playhouse_core::NoReply::Dropped))
    ));
    // An ask expecting another answer type than the export declared is refused before the
    // actor sees it, not its answer decoded as the wrong type (postcard reads the counter's
    // `0u64` as an empty string).
    let as_string = b.remote::<Get>("counter").ask::<String>(Get, WAIT).await;
    let as_triple = b
        .remote::<Get>("counter")
        .ask::<(u64, u64, u64)>(Get, WAIT)
        .await;
    for (asked, expects) in [
        (as_string.map(drop), "Get->alloc::string::String"),
        (as_triple.map(drop), "Get->(u64, u64, u64)"),
    ] {
        match asked {
            Err(RemoteError::Rejected {
                reason: Rejection::WrongType { got, accepted, .. },
                msg: Get,
            }) => {
                assert!(got.starts_with("ask:") && got.ends_with(expects), "{got}");
                assert!(
                    accepted.iter().any(|a| a.ends_with("Get->u64")),
                    "{accepted:?}"
                );
            }
            other => panic!("expected WrongType, got {other:?}"),
        }
    }
    // Nobody under the name.
    assert!(matches!(
        b.remote::<Add>("nobody").tell_acked(Add(2), WAIT).await,
        Err(RemoteError::NotFound { msg: Add(2), .. })
    ));
    // An invalid name.
    assert_eq!(
        a.export("no.dots", &counter)
            .tell::<Add>()
            .start()
            .await
            .unwrap_err(),
        ExportError::InvalidName {
            name: "no.dots".into()
        }
    );
    assert_eq!(
        a.export("empty", &counter).start().await.unwrap_err(),
        ExportError::NothingAccepted
    );
}

#[tokio::test]
async fn plain_tells_that_fail_become_dead_letters_at_the_sender() {
    let server = TestServer::start().expect("nats-server");
    let (_a, b, _counter) = counter_on_a(&server).await;
    let seen = dead_letters_of(&b);

    b.remote::<u32>("counter").tell(5).await.unwrap();
    b.remote::<Add>("nobody").tell(Add(1)).await.unwrap();
    eventually("both refusals come back", async || {
        seen.lock().unwrap().len() == 2
    })
    .await;
    let letters = seen.lock().unwrap().clone();
    let rejected = letters
        .iter()
        .find(|l| l.kind == DeadLetterKind::Rejected)
        .unwrap();
    assert_eq!(rejected.target, "counter");
    assert_eq!(rejected.message_type, "u32");
    let nobody = letters
        .iter()
        .find(|l| l.kind == DeadLetterKind::NoSuchName)
        .unwrap();
    assert_eq!(nobody.target, "nobody");
    assert!(nobody.message_type.ends_with("Add"));
    assert_eq!(b.dead_letters().rejected, 1);
    assert_eq!(b.dead_letters().no_such_name, 1);
}

/// A lean reference's tells carry no reply subject: they are delivered in order as any tell,
/// a refusal still comes back as a dead letter (to the node the envelope names), and a tell to
/// a name nobody serves is the one thing not reported.
#[tokio::test]
async fn lean_tells_are_delivered_and_their_refusals_come_back() {
    let server = TestServer::start().expect("nats-server");
    let (a, b, _counter) = counter_on_a(&server).await;
    let seen = dead_letters_of(&b);

    let add = b.remote::<Add>("counter").lean();
    assert!(add.is_lean() && !b.remote::<Add>("counter").is_lean());
    for n in 1..=100 {
        add.tell(Add(n)).await.unwrap();
    }
    let total: u64 = b.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 5050, "every lean tell arrived before the ask");

    // A type the export does not take: refused, reported at the sender under the name.
    b.remote::<u32>("counter").lean().tell(5).await.unwrap();
    // Nobody serves the name: lost unreported for the lean tell; the plain one is reported.
    b.remote::<Add>("nobody").lean().tell(Add(1)).await.unwrap();
    b.remote::<Add>("nobody").tell(Add(2)).await.unwrap();
    eventually(
        "the refusal and the plain tell's report come back",
        async || seen.lock().unwrap().len() == 2,
    )
    .await;
    let letters = seen.lock().unwrap().clone();
    let rejected = letters
        .iter()
        .find(|l| l.kind == DeadLetterKind::Rejected)
        .expect("the lean tell's refusal");
    assert_eq!(rejected.target, "counter");
    assert_eq!(rejected.message_type, "u32");
    assert_eq!(b.dead_letters().no_such_name, 1, "only the plain tell's");
    assert_eq!(
        a.dead_letters().total(),
        0,
        "the receiver reports to the sender"
    );
}

/// A node whose subscription falls behind (its actor holds, its `Block` mailbox is full, so the
/// export waits) has the client drop what arrives past the subscription's capacity; each drop
/// is reported on that node as an `Overflowed` dead letter under the export's name, and what
/// was not dropped is handled once the actor goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_subscription_reports_its_drops() {
    const SENT: u64 = 200;
    let server = TestServer::start().expect("nats-server");
    let a = NatsBroker::connect(config(&server, "a").subscription_capacity(4))
        .await
        .unwrap();
    let b = node(&server, "b").await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = std::sync::Arc::clone(&seen);
    a.on_dead_letter(move |letter| hook.lock().unwrap().push(letter.clone()));
    let (release, hold) = futures::channel::oneshot::channel();
    let mut actor = Counter::new();
    actor.release = Some(hold);
    let counter = system(&a).spawn_with(actor, Bounded::<Block>::with_capacity(1).unwrap());
    a.export("slow", &counter)
        .tell::<Add>()
        .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
        .ask::<HoldIt, ()>(|HoldIt, reply| Msg::Hold(reply))
        .start()
        .await
        .unwrap();
    b.remote::<HoldIt>("slow")
        .ask::<()>(HoldIt, WAIT)
        .await
        .unwrap();
    // The handler holds: one tell fills the mailbox, the export waits on the next, four more
    // fill the subscription, and the client drops the rest as they arrive.
    let add = b.remote::<Add>("slow");
    for _ in 0..SENT {
        add.tell(Add(1)).await.unwrap();
    }
    eventually("the drops are reported", async || {
        a.dead_letters().overflowed > 0
    })
    .await;
    release.send(()).unwrap();
    // The actor goes on. An ask that comes while the subscription is still full is dropped
    // too (and counted): ask again until one gets through.
    let get = b.remote::<Get>("slow");
    let mut asks = 0;
    let handled: u64 = loop {
        asks += 1;
        match get.ask(Get, Duration::from_millis(500)).await {
            Ok(handled) => break handled,
            Err(RemoteError::Timeout) if asks < 20 => continue,
            Err(e) => panic!("the actor goes on: {e:?} after {asks} asks"),
        }
    };
    let overflowed = a.dead_letters().overflowed;
    assert!(handled >= 2, "handled {handled}");
    assert!(handled < SENT, "handled {handled}: nothing was dropped");
    // A lower bound: the client may drop its notices of drops too.
    assert!(
        handled + overflowed < SENT + asks,
        "{handled} + {overflowed} ({asks} asks)"
    );
    let letters = seen.lock().unwrap().clone();
    assert!(!letters.is_empty());
    for letter in &letters {
        assert_eq!(letter.kind, DeadLetterKind::Overflowed);
        assert_eq!(letter.target, "slow", "named after the export it was for");
    }
    assert_eq!(b.dead_letters().total(), 0, "the sender saw nothing wrong");
}

#[tokio::test]
async fn a_full_reject_mailbox_and_an_ended_actor_are_reported() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let (release, hold) = futures::channel::oneshot::channel();
    let mut actor = Counter::new();
    actor.release = Some(hold);
    let counter = system(&a).spawn_with(actor, Bounded::<Reject>::with_capacity(1).unwrap());
    a.export("small", &counter)
        .tell::<Add>()
        .ask::<HoldIt, ()>(|HoldIt, reply| Msg::Hold(reply))
        .start()
        .await
        .unwrap();
    // The handler now holds; one message fills the mailbox, the next is refused.
    b.remote::<HoldIt>("small")
        .ask::<()>(HoldIt, WAIT)
        .await
        .unwrap();
    let add = b.remote::<Add>("small");
    add.tell_acked(Add(1), WAIT).await.unwrap();
    assert!(matches!(
        add.tell_acked(Add(2), WAIT).await,
        Err(RemoteError::Full(Add(2)))
    ));
    release.send(()).unwrap();
    counter.stop();
    // Closed while the export is still up, or already unexported: either way not delivered,
    // and the message comes back.
    eventually("the ended actor refuses", async || {
        let r = add.tell_acked(Add(3), Duration::from_millis(500)).await;
        eprintln!("{r:?} alive {}", counter.is_alive());
        matches!(
            r,
            Err(RemoteError::Closed(Add(3)) | RemoteError::NotFound { msg: Add(3), .. })
        )
    })
    .await;
}

#[tokio::test]
async fn malformed_unknown_version_and_oversized_input_is_refused() {
    let server = TestServer::start().expect("nats-server");
    let a = NatsBroker::connect(config(&server, "a").max_message_size(1024))
        .await
        .unwrap();
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    let raw = server.connect().await.unwrap();

    async fn refusal(raw: &async_nats::Client, payload: Vec<u8>) -> Rejection {
        let answer = raw
            .request("playhouse.actor.counter", payload.into())
            .await
            .expect("an answer");
        // A rejection envelope: magic, version, kind 4, correlation 0 (one varint byte), an
        // empty tag, then the postcard-encoded `Rejection`.
        let bytes = &answer.payload;
        assert_eq!(bytes[..5], [b'P', 1, 4, 0, 0]);
        postcard::from_bytes(&bytes[5..]).expect("a rejection")
    }
    assert!(matches!(
        refusal(&raw, b"garbage".to_vec()).await,
        Rejection::Malformed { .. }
    ));
    let mut future_version = vec![b'P', 99, 1];
    future_version.extend_from_slice(&[0; 2]);
    assert_eq!(
        refusal(&raw, future_version).await,
        Rejection::UnknownVersion {
            got: 99,
            supported: 1
        }
    );
    assert!(matches!(
        refusal(&raw, vec![b'P'; 4096]).await,
        Rejection::TooLarge {
            size: 4096,
            limit: 1024
        }
    ));
    // A sender's own limit: nothing is sent.
    let big = Blob(vec![7; 4096]);
    match a.remote::<Blob>("counter").tell(big).await {
        Err(RemoteError::TooLarge {
            limit: 1024, msg, ..
        }) => assert_eq!(msg.0.len(), 4096),
        other => panic!("{other:?}"),
    }
    // The actor is unharmed.
    let total: u64 = a.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 0);
    // Its answers are held to the limit as sent, envelope included: 1,000 bytes fit (a
    // 2-byte length and a few bytes of envelope), 1,100 do not. The request was handled all
    // the same: the asker hears its answer was lost (not that its request was refused, with
    // the request back, which would invite sending it again), and the size it would have had.
    let fill = a.remote::<Fill>("counter");
    let fits: Vec<u8> = fill.ask(Fill(1000), WAIT).await.expect("fits");
    assert_eq!(fits.len(), 1000);
    match fill.ask::<Vec<u8>>(Fill(1100), WAIT).await {
        Err(
            e @ RemoteError::AnswerLost {
                reason: Rejection::AnswerUndeliverable { .. },
            },
        ) => {
            let text = e.to_string();
            // The body is 1,102 bytes (a 2-byte length); the envelope adds at least 5.
            assert!(
                text.contains("was handled") && text.contains("-byte answer is over the"),
                "{text}"
            );
            assert!(e.into_message().is_none(), "handled: not handed back");
        }
        other => panic!("{other:?}"),
    }

    // An ask as a build older than the `Q->R` tags writes it, its tag naming the message type
    // alone: served by the route for that type (without the answer-type check). An envelope
    // of kind 2 (ask), correlation 1, the tag, then `Get`'s postcard body (nothing).
    let tag = std::any::type_name::<Get>();
    let mut old_ask = vec![b'P', 1, 2, 1, tag.len() as u8];
    old_ask.extend_from_slice(tag.as_bytes());
    let answer = raw
        .request("playhouse.actor.counter", old_ask.into())
        .await
        .expect("an answer");
    let reply_kind = answer.payload[2];
    assert_eq!(
        reply_kind, 3,
        "a reply, not a refusal: {:?}",
        answer.payload
    );
    let body_at = 5 + usize::from(answer.payload[4]);
    let total: u64 = postcard::from_bytes(&answer.payload[body_at..]).expect("a u64");
    assert_eq!(total, 0);
}

#[tokio::test]
async fn a_client_without_credentials_or_the_ca_is_refused() {
    let server = TestServer::start().expect("nats-server");
    let no_credentials = NodeConfig::new(server.url())
        .root_certificate(server.ca_cert_path().unwrap())
        .node_name("intruder");
    assert!(matches!(
        NatsBroker::connect(no_credentials).await,
        Err(ConnectError::NotAuthorized(_))
    ));
    let wrong_password = no_credentials_with_password(&server, "wrong");
    assert!(matches!(
        NatsBroker::connect(wrong_password).await,
        Err(ConnectError::NotAuthorized(_))
    ));
    // Without the CA, the server's certificate is not trusted.
    let no_ca = NodeConfig::new(server.url())
        .credentials(playhouse_nats::Credentials::UserPassword {
            user: server.user().unwrap().to_owned(),
            password: server.password().unwrap().to_owned(),
        })
        .node_name("untrusting")
        .connect_timeout(Duration::from_secs(2));
    let err = NatsBroker::connect(no_ca).await.unwrap_err();
    assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
    // Two live nodes cannot share a name.
    let _a = node(&server, "a").await;
    assert!(matches!(
        NatsBroker::connect(config(&server, "a")).await,
        Err(ConnectError::NodeNameTaken { .. })
    ));
}

/// With TLS required (the default), a plaintext server is refused as a TLS failure; a server
/// that takes the connection and never speaks is given up after the connect timeout (the
/// client's own timeout covered only the TCP connect, and the handshake waited for ever).
#[tokio::test]
async fn a_plaintext_or_silent_server_is_refused_with_a_typed_error() {
    let plain = TestServer::builder()
        .tls(false)
        .user_password(false)
        .start()
        .expect("nats-server");
    let err = NatsBroker::connect(
        NodeConfig::new(plain.url())
            .node_name("careful")
            .connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");

    let url = format!("nats://{}", silent_server());
    let silent = NodeConfig::new(url)
        .node_name("patient")
        .connect_timeout(Duration::from_millis(300));
    // Bounded here so that a hang fails the test instead of stalling the suite.
    let err = tokio::time::timeout(WAIT, NatsBroker::connect(silent))
        .await
        .expect("connect gave up")
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable(_)), "{err:?}");
}

/// The address of a server that takes connections and holds them, saying nothing.
fn silent_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

/// Each server listed is tried: a silent one is passed over after the connect timeout (it held
/// the handshake for ever, and the next was never tried), and so are one that refuses the
/// connection and one whose name does not resolve (which ended the connect); the node connects
/// to the one that answers. When all fail, the most telling failure is reported: here the
/// credentials one refused. A list with an address that does not parse is refused before
/// anything is tried (a list was refused whatever it held).
#[tokio::test]
async fn a_server_list_is_tried_in_turn_past_silent_and_refusing_servers() {
    let server = TestServer::start().expect("nats-server");
    let strict = TestServer::start().expect("nats-server"); // another password
    let refusing = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    // Trusting one test server's CA only: two test CAs have the same name.
    let listed = |url: String, ca: &TestServer| {
        NodeConfig::new(url)
            .root_certificate(ca.ca_cert_path().unwrap())
            .credentials(playhouse_nats::Credentials::UserPassword {
                user: server.user().unwrap().to_owned(),
                password: server.password().unwrap().to_owned(),
            })
            .connect_timeout(Duration::from_millis(300))
    };
    let failing = format!(
        "tls://{}, tls://{refusing},tls://no-such-host.invalid:4222",
        silent_server(),
    );
    // Whichever server it starts at (a random one), it reaches the one that answers.
    for n in 0..8 {
        let url = format!("{failing},{}", server.url());
        let name = format!("listed{n}");
        let config = listed(url, &server).node_name(&name);
        let node = tokio::time::timeout(WAIT, NatsBroker::connect(config))
            .await
            .expect("connect gave up")
            .expect("the last server answers");
        assert!(node.is_member(&name));
        node.leave().await;
    }
    // None answers: the refused credentials are what is reported.
    let url = format!("{failing},{}", strict.url());
    let config = listed(url, &strict).node_name("none");
    let err = tokio::time::timeout(WAIT, NatsBroker::connect(config))
        .await
        .expect("connect gave up")
        .unwrap_err();
    assert!(matches!(err, ConnectError::NotAuthorized(_)), "{err:?}");

    for bad in ["", " , ", &format!("{},tls://127.0.0.1:port", server.url())] {
        let err = NatsBroker::connect(listed(bad.to_owned(), &server).node_name("bad"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectError::InvalidConfig(_)),
            "{bad:?}: {err:?}"
        );
    }
}

fn no_credentials_with_password(server: &TestServer, password: &str) -> NodeConfig {
    NodeConfig::new(server.url())
        .root_certificate(server.ca_cert_path().unwrap())
        .credentials(playhouse_nats::Credentials::UserPassword {
            user: server.user().unwrap().to_owned(),
            password: password.to_owned(),
        })
        .node_name("guesser")
}

#[tokio::test]
async fn the_nodes_reconnect_after_a_server_restart_and_go_on() {
    let mut server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    let mut events = a.member_events();
    let add = b.remote::<Add>("counter");
    add.tell_acked(Add(1), WAIT).await.unwrap();

    // Traffic while the server goes down and comes back.
    let sender = support::acked_traffic(&add, 200, || Add(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.restart().expect("the server comes back");
    let acked = sender.await.unwrap();
    assert!(acked > 0);

    // Both nodes saw the connection drop and come back.
    let mut saw = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(WAIT, events.next()).await {
        saw.push(event.clone());
        if event == MemberEvent::Reconnected {
            break;
        }
    }
    assert!(saw.contains(&MemberEvent::Disconnected), "{saw:?}");
    assert!(saw.contains(&MemberEvent::Reconnected), "{saw:?}");
    // Sends go on, and every acknowledged one was handled (at most once: some in flight during
    // the restart may be lost, never doubled).
    eventually("sends work again", async || {
        add.tell_acked(Add(0), Duration::from_millis(500))
            .await
            .is_ok()
    })
    .await;
    let total: u64 = b.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert!(total > acked, "total {total}, acknowledged {}", acked + 1);
    assert!(total <= 201, "total {total}: a tell was handled twice");
    // The registry and membership recover: JetStream keeps its store across the restart, and
    // if b took a for dead meanwhile (its heartbeats stopped for longer than the TTL) and purged
    // a's name, a claims it again.
    eventually("membership recovers", async || {
        a.members() == ["a", "b"] && b.members() == ["a", "b"]
    })
    .await;
    eventually("a's name is registered again", async || {
        b.registration("counter")
            .await
            .is_ok_and(|found| found.is_some_and(|found| found.node == "a"))
    })
    .await;
}

/// The registry entry as the crate stores it (postcard), for a test that writes one by hand.
#[derive(Serialize)]
struct RawEntry<'a> {
    node: &'a str,
    actor_type: &'a str,
    accepts: Vec<String>,
    /// The token of the owner's connection, as its heartbeats carry it.
    incarnation: String,
    /// Served already (an export marks its entry so once subscribed).
    ready: bool,
}

async fn raw_registry(server: &TestServer) -> async_nats::jetstream::kv::Store {
    let raw = server.connect().await.unwrap();
    async_nats::jetstream::new(raw)
        .get_key_value("playhouse_registry")
        .await
        .unwrap()
}

/// The incarnation `node`'s heartbeats name (`alive <token>`), read from the members bucket.
async fn incarnation_of(server: &TestServer, node: &str) -> String {
    let raw = server.connect().await.unwrap();
    let members = async_nats::jetstream::new(raw)
        .get_key_value("playhouse_members")
        .await
        .unwrap();
    let beat = members.get(node).await.unwrap().expect("a heartbeat");
    String::from_utf8(beat.to_vec())
        .unwrap()
        .strip_prefix("alive ")
        .expect("a token")
        .to_owned()
}

#[tokio::test]
async fn a_name_purged_by_another_node_is_claimed_again_by_its_own() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    let mut events = a.member_events();

    // What b's reaper does to a node it took for dead (a was only out of reach).
    let registry = raw_registry(&server).await;
    let before = registry.entry("counter").await.unwrap().unwrap().revision;
    registry.purge("counter").await.unwrap();

    eventually("a claims its name again", async || {
        registry
            .entry("counter")
            .await
            .unwrap()
            .is_some_and(|e| e.operation == Operation::Put && e.revision > before)
    })
    .await;
    assert_eq!(b.registration("counter").await.unwrap().unwrap().node, "a");
    // It is a's again: b cannot take it, and a still serves it.
    let other = system(&b).spawn(Counter::new());
    assert_eq!(
        b.export("counter", &other)
            .tell::<Add>()
            .start()
            .await
            .unwrap_err(),
        ExportError::NameTaken {
            name: "counter".into(),
            owner: "a".into()
        }
    );
    b.remote::<Add>("counter")
        .tell_acked(Add(3), WAIT)
        .await
        .unwrap();
    let total: u64 = b.remote::<Get>("counter").ask(Get, WAIT).await.unwrap();
    assert_eq!(total, 3);
    // The entry made again is the one released when the actor ends.
    counter.stop();
    eventually("the name is released", async || {
        b.registration("counter").await.unwrap().is_none()
    })
    .await;
    assert!(
        registry
            .entry("counter")
            .await
            .unwrap()
            .is_none_or(|e| e.operation != Operation::Put),
        "the claim made again outlived the actor"
    );
    // Nothing was lost.
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(100), events.next()).await
    {
        assert!(!matches!(event, MemberEvent::NameLost { .. }), "{event:?}");
    }
}

/// An export claims its name before it subscribes to the name's subject, and marks the entry
/// ready after: a lookup finds only a ready entry, so a send made after a lookup succeeded is
/// never told that nobody serves the name by a node still subscribing. Here the claimed, not
/// yet ready entry is written by hand (the window is too short to catch in a test).
#[tokio::test]
async fn a_name_is_found_only_once_it_is_served() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "served", &counter).await;
    let registry = raw_registry(&server).await;
    let raw = registry.get("served").await.unwrap().expect("the entry");
    let entry: (String, String, Vec<String>, String, bool) = postcard::from_bytes(&raw).unwrap();
    assert!(entry.4, "an export's entry is ready once it returns");
    assert_eq!(b.registration("served").await.unwrap().unwrap().node, "a");

    // a's claim of a name it does not serve yet.
    let claimed = RawEntry {
        node: "a",
        actor_type: "remote::Counter",
        accepts: vec!["tell:remote::Add".into()],
        incarnation: incarnation_of(&server, "a").await,
        ready: false,
    };
    registry
        .create("pending", postcard::to_allocvec(&claimed).unwrap().into())
        .await
        .unwrap();
    assert!(b.registration("pending").await.unwrap().is_none());
    let err = b
        .remote::<Get>("pending")
        .ask::<u64>(Get, WAIT)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    // Not another node's to take, though: a live node claimed it.
    let other = system(&b).spawn(Counter::new());
    assert_eq!(
        b.export("pending", &other)
            .tell::<Add>()
            .start()
            .await
            .unwrap_err(),
        ExportError::NameTaken {
            name: "pending".into(),
            owner: "a".into()
        }
    );
}

/// An ask to a name the registry says a live node serves, but that nobody is subscribed to
/// yet (its node subscribing again after a reconnection or a server restart), is sent again
/// rather than failed at once with `NotFound`: here the subscriber comes 200 ms after the ask
/// started, and receives it.
#[tokio::test]
async fn an_ask_to_a_registered_name_not_yet_subscribed_is_sent_again() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let registry = raw_registry(&server).await;
    let served = RawEntry {
        node: "a",
        actor_type: "remote::Counter",
        accepts: vec!["ask:remote::Get->u64".into()],
        incarnation: incarnation_of(&server, "a").await,
        ready: true,
    };
    registry
        .create(
            "resubscribing",
            postcard::to_allocvec(&served).unwrap().into(),
        )
        .await
        .unwrap();
    let asking = tokio::spawn(async move {
        b.remote::<Get>("resubscribing")
            .ask::<u64>(Get, Duration::from_secs(2))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let raw = server.connect().await.unwrap();
    let mut subscriber = raw
        .subscribe("playhouse.actor.resubscribing")
        .await
        .unwrap();
    let request = tokio::time::timeout(WAIT, subscriber.next())
        .await
        .expect("the ask was sent again once someone subscribed");
    assert!(request.is_some());
    // The raw subscriber does not answer: the ask ends with its timeout, not `NotFound`.
    let err = asking.await.unwrap().unwrap_err();
    assert!(matches!(err, RemoteError::Timeout), "{err:?}");
    drop(a);
}

/// A registry entry as a node of the version before incarnations writes it (no incarnation,
/// no ready flag) belongs to whichever process of its node is alive: found while the node
/// lives, and not another node's to take.
#[tokio::test]
async fn an_entry_of_the_earlier_format_is_read() {
    #[derive(serde::Serialize)]
    struct EarlierEntry<'a> {
        node: &'a str,
        actor_type: &'a str,
        accepts: Vec<String>,
    }
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let earlier = EarlierEntry {
        node: "a",
        actor_type: "remote::Counter",
        accepts: vec!["tell:remote::Add".into()],
    };
    raw_registry(&server)
        .await
        .create("earlier", postcard::to_allocvec(&earlier).unwrap().into())
        .await
        .unwrap();
    assert_eq!(b.registration("earlier").await.unwrap().unwrap().node, "a");
    let other = system(&b).spawn(Counter::new());
    assert_eq!(
        b.export("earlier", &other)
            .tell::<Add>()
            .start()
            .await
            .unwrap_err(),
        ExportError::NameTaken {
            name: "earlier".into(),
            owner: "a".into()
        }
    );
    // A node upgraded to this version finds its earlier process's entries stale: it exports
    // their names again at once.
    let before_upgrade = EarlierEntry {
        node: "c",
        actor_type: "remote::Counter",
        accepts: vec!["tell:remote::Add".into()],
    };
    raw_registry(&server)
        .await
        .create(
            "upgraded",
            postcard::to_allocvec(&before_upgrade).unwrap().into(),
        )
        .await
        .unwrap();
    let c = node(&server, "c").await;
    let counter = system(&c).spawn(Counter::new());
    export_counter(&c, "upgraded", &counter).await;
    drop(a);
}

#[tokio::test]
async fn a_name_taken_over_while_its_node_was_away_is_given_up() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    b.remote::<Add>("counter")
        .tell_acked(Add(1), WAIT)
        .await
        .unwrap();
    let mut events = a.member_events();

    // b took a for dead and claimed the name (as `claim` does over a dead owner's entry).
    let registry = raw_registry(&server).await;
    let current = registry.entry("counter").await.unwrap().unwrap().revision;
    let entry = RawEntry {
        node: "b",
        actor_type: "elsewhere::Counter",
        accepts: vec!["tell:remote::Add".into()],
        incarnation: incarnation_of(&server, "b").await,
        ready: true,
    };
    registry
        .update(
            "counter",
            postcard::to_allocvec(&entry).unwrap().into(),
            current,
        )
        .await
        .unwrap();

    let event = loop {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(MemberEvent::NameLost { name, holder })) => break (name, holder),
            Ok(Some(_)) => {}
            other => panic!("no NameLost event: {other:?}"),
        }
    };
    assert_eq!(event, ("counter".to_owned(), "b".to_owned()));
    // The event comes once a has stopped serving the name (b, here, serves nothing under it):
    // a send made now finds nobody. a left b's entry alone, and its actor runs on.
    let err = b
        .remote::<Add>("counter")
        .tell_acked(Add(1), WAIT)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(b.registration("counter").await.unwrap().unwrap().node, "b");
    assert!(counter.is_alive());
    assert_eq!(counter.ask(Msg::Get).await.unwrap(), 1);
}

#[tokio::test]
async fn a_purge_racing_another_nodes_claim_leaves_exactly_one_server() {
    for round in 0..8 {
        let server = TestServer::start().expect("nats-server");
        let a = node(&server, "a").await;
        let b = node(&server, "b").await;
        let on_a = system(&a).spawn(Counter::new());
        let on_b = system(&b).spawn(Counter::new());
        export_counter(&a, "counter", &on_a).await;
        let mut events = a.member_events();

        // The entry is purged and b claims the name at once, racing a's claim made again.
        let registry = raw_registry(&server).await;
        registry.purge("counter").await.unwrap();
        let b_won = b
            .export("counter", &on_b)
            .tell::<Add>()
            .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
            .start()
            .await;
        let holder = match b_won {
            Ok(exported) => {
                std::mem::forget(exported);
                // a hears of it and stops serving before anyone counts.
                loop {
                    match tokio::time::timeout(WAIT, events.next()).await {
                        Ok(Some(MemberEvent::NameLost { holder, .. })) => break holder,
                        Ok(Some(_)) => {}
                        other => panic!("round {round}: b won, a never gave up: {other:?}"),
                    }
                }
            }
            Err(ExportError::NameTaken { owner, .. }) => owner,
            Err(e) => panic!("round {round}: {e}"),
        };
        assert_eq!(
            b.registration("counter").await.unwrap().unwrap().node,
            holder
        );
        // Exactly one node serves the name: every message is handled once, by the holder.
        let add = a.remote::<Add>("counter");
        for _ in 0..10 {
            add.tell_acked(Add(1), WAIT).await.unwrap();
        }
        let (served, idle) = if holder == "a" {
            (&on_a, &on_b)
        } else {
            (&on_b, &on_a)
        };
        assert_eq!(served.ask(Msg::Get).await.unwrap(), 10, "round {round}");
        assert_eq!(idle.ask(Msg::Get).await.unwrap(), 0, "round {round}");
    }
}

/// The members bucket, read and written as another process would.
async fn raw_members(server: &TestServer) -> async_nats::jetstream::kv::Store {
    let raw = server.connect().await.unwrap();
    async_nats::jetstream::new(raw)
        .get_key_value("playhouse_members")
        .await
        .unwrap()
}

/// A node with slow beats, so that its entry, purged by a test, stays gone long enough for
/// another process to take its name (every node of a cluster has the same TTL).
fn slow(server: &TestServer, name: &str) -> NodeConfig {
    server
        .node_config(name)
        .heartbeat(Duration::from_secs(2), Duration::from_secs(8))
}

/// What happens to a node out of reach for longer than the TTL: its entry expires (purged
/// here) and another process connects under its name (purged again if the node's own beat
/// announced it again first). Returns that process's broker.
async fn take_name(
    server: &TestServer,
    members: &async_nats::jetstream::kv::Store,
    name: &str,
) -> NatsBroker {
    loop {
        members.purge(name).await.unwrap();
        match NatsBroker::connect(slow(server, name)).await {
            Ok(other) => return other,
            Err(ConnectError::NodeNameTaken { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A node out of reach for longer than the TTL is taken for dead and its entry expires. If
/// nobody took its name meanwhile, its next heartbeat announces it again and it goes on. If
/// another process connected under its name, its heartbeat (a compare-and-set on its entry)
/// does not overwrite that process's entry, which would have the two take turns holding the
/// name: it leaves the cluster and says why, and the other process keeps the name.
#[tokio::test]
async fn a_node_whose_name_another_process_took_leaves_and_one_whose_entry_merely_expired_goes_on()
{
    let server = TestServer::start().expect("nats-server");
    let a = NatsBroker::connect(slow(&server, "a")).await.unwrap();
    let w = NatsBroker::connect(slow(&server, "w")).await.unwrap();
    eventually("w sees a", async || w.members() == ["a", "w"]).await;
    let members = raw_members(&server).await;
    let first = incarnation_of(&server, "a").await;

    // Expired (as a purge by age does), nobody took the name: a comes back as itself.
    members.purge("a").await.unwrap();
    eventually("a announces itself again", async || {
        members.get("a").await.unwrap().is_some()
    })
    .await;
    assert_eq!(incarnation_of(&server, "a").await, first);
    eventually("w sees a again", async || w.members() == ["a", "w"]).await;
    assert_eq!(a.members(), ["a", "w"]);

    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    let mut events = a.member_events();
    // Expired again, and this time another process connects under the name first (a's next
    // beat is up to 2 s away; should it win the race, the name is purged again).
    let other = take_name(&server, &members, "a").await;
    let second = incarnation_of(&server, "a").await;
    assert_ne!(second, first);

    let event = loop {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(MemberEvent::Superseded)) => break MemberEvent::Superseded,
            Ok(Some(_)) => {}
            other => panic!("a never gave its name up: {other:?}"),
        }
    };
    assert_eq!(event, MemberEvent::Superseded);
    // a has left: it follows nothing and serves nothing more; its actor runs on.
    assert!(a.members().is_empty());
    let late = system(&a).spawn(Counter::new());
    let refused = a.export("late", &late).tell::<Add>().start().await;
    assert_eq!(refused.map(|_| ()), Err(ExportError::Left));
    assert!(counter.is_alive());
    // The other process holds the name, untouched by a's beats, and the cluster follows it;
    // a's export is gone, so the name is free for the new process.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(incarnation_of(&server, "a").await, second);
    eventually("w follows the new a", async || {
        w.members() == ["a", "w"] && other.members() == ["a", "w"]
    })
    .await;
    eventually("a's name is withdrawn", async || {
        w.registration("counter").await.unwrap().is_none()
    })
    .await;
    let again = system(&other).spawn(Counter::new());
    export_counter(&other, "counter", &again).await;
    assert_eq!(
        w.remote::<Get>("counter")
            .ask::<u64>(Get, WAIT)
            .await
            .unwrap(),
        0
    );
}

/// A process that connects under a node's name while that node is out of reach, and at once
/// exports a name the node exported, keeps it: the node, back, leaves (`Superseded`) and gives
/// the name up. (It took the other process's entry for an earlier process's of its own, claimed
/// the name back, then withdrew it as it left: nobody served the name.)
#[tokio::test]
async fn a_returning_node_leaves_its_names_to_the_process_that_took_its_name() {
    // The race that lost the name is won about half the time: ten rounds.
    for round in 0..10 {
        let server = TestServer::start().expect("nats-server");
        let a = NatsBroker::connect(slow(&server, "a")).await.unwrap();
        let w = NatsBroker::connect(slow(&server, "w")).await.unwrap();
        let counter = system(&a).spawn(Counter::new());
        export_counter(&a, "counter", &counter).await;
        counter.tell(Msg::Add(5)).await.unwrap();
        let mut events = a.member_events();
        let members = raw_members(&server).await;
        let other = take_name(&server, &members, "a").await;
        let again = system(&other).spawn(Counter::new());
        export_counter(&other, "counter", &again).await;
        loop {
            match tokio::time::timeout(WAIT, events.next()).await {
                Ok(Some(MemberEvent::Superseded)) => break,
                Ok(Some(_)) => {}
                other => panic!("round {round}: a never left: {other:?}"),
            }
        }
        // The name is the new process's, and stays so: w reaches its counter, not a's.
        let get = w.remote::<Get>("counter");
        eventually("w reaches the new process's counter", async || {
            get.ask::<u64>(Get, Duration::from_millis(500)).await.ok() == Some(0)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            get.ask::<u64>(Get, WAIT).await.ok(),
            Some(0),
            "round {round}"
        );
        assert_eq!(counter.ask(Msg::Get).await.unwrap(), 5, "round {round}");
    }
}

/// Every node of a cluster counts with the TTL of the members bucket, which the first node
/// made: a node configured with another is refused. (Accepted, it took live nodes for dead, or
/// had its own entry expire between two of its beats and its name taken.) So is a connect
/// timeout of zero (every connect failed, saying no server answered).
#[tokio::test]
async fn a_node_ttl_other_than_the_clusters_or_no_connect_time_is_refused() {
    let server = TestServer::start().expect("nats-server");
    let _a = node(&server, "a").await;
    let other = server
        .node_config("b")
        .heartbeat(Duration::from_millis(200), Duration::from_secs(2));
    let err = NatsBroker::connect(other).await.unwrap_err();
    match err {
        ConnectError::InvalidConfig(why) => assert!(why.contains("node TTL"), "{why}"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    let _b = node(&server, "b").await;
    let instant = config(&server, "c").connect_timeout(Duration::ZERO);
    let err = NatsBroker::connect(instant).await.unwrap_err();
    assert!(matches!(err, ConnectError::InvalidConfig(_)), "{err:?}");
}

/// After the server was gone for longer than the TTL, every node sees the others again soon
/// after it comes back: a node opens its members watch again when it reconnects. (A watch whose
/// consumer the restart had ended stayed silent until the client replaced it, about ten
/// seconds, and the nodes it had reaped during the outage stayed out of its `members()`.)
#[tokio::test]
async fn after_a_server_outage_every_node_sees_the_others_again_soon() {
    let mut server = TestServer::start().expect("nats-server");
    let configs: Vec<NodeConfig> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            server
                .node_config(name)
                .heartbeat(Duration::from_millis(100), Duration::from_millis(500))
        })
        .collect();
    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(NatsBroker::connect(config).await.unwrap());
    }
    let all_see_all = || nodes.iter().all(|n| n.members() == ["a", "b", "c"]);
    eventually("all see all", async || all_see_all()).await;
    for round in 0..3 {
        server.stop();
        tokio::time::sleep(Duration::from_millis(600)).await;
        server.restart().expect("the server comes back");
        let back = tokio::time::Instant::now();
        while !all_see_all() {
            let seen: Vec<_> = nodes.iter().map(|n| n.members()).collect();
            assert!(back.elapsed() < WAIT, "round {round}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A leave made while the server is out of reach returns, and so does a second one made
/// meanwhile: the withdrawal of the node's names and heartbeat and the flush wait at most the
/// node TTL. (They waited for the reconnection, however long: the client holds its requests
/// and the flush until then.)
#[tokio::test]
async fn a_leave_during_a_server_outage_returns() {
    let mut server = TestServer::start().expect("nats-server");
    let config = server
        .node_config("a")
        .heartbeat(Duration::from_millis(100), Duration::from_millis(500));
    let a = NatsBroker::connect(config).await.unwrap();
    let counter = system(&a).spawn(Counter::new());
    export_counter(&a, "counter", &counter).await;
    server.stop();
    let second = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.leave().await;
    };
    tokio::time::timeout(WAIT, async { tokio::join!(a.leave(), second) })
        .await
        .expect("both leaves returned while the server was down");
    assert!(a.members().is_empty());
    server.restart().expect("the server comes back");
}

/// What a node's configuration names is read before it connects: a certificate file that
/// cannot be read or holds no certificate (or key), a seed that does not parse, a TTL that
/// JetStream cannot hold and a message size limit of zero are `InvalidConfig`, saying which.
/// (A CA file with no certificate in it was taken as no CA, and the server's certificate
/// reported untrusted; a bad seed as the server refusing the node.)
#[tokio::test]
async fn unreadable_files_and_impossible_limits_are_configuration_errors() {
    let server = TestServer::start().expect("nats-server");
    let ca = server.ca_cert_path().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!("playhouse-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let missing = dir.join("missing.pem");

    let refused = async |config: NodeConfig, says: &str| match NatsBroker::connect(config).await {
        Err(ConnectError::InvalidConfig(why)) => assert!(why.contains(says), "{why}"),
        Err(other) => panic!("expected InvalidConfig ({says}), got {other:?}"),
        Ok(_) => panic!("expected InvalidConfig ({says}), connected"),
    };
    let base = || config(&server, "checked");
    refused(base().root_certificate(&dir), "is not a file").await;
    refused(
        base().root_certificate(&not_pem),
        "holds no PEM certificate",
    )
    .await;
    refused(base().root_certificate(&missing), "cannot read").await;
    refused(base().client_certificate(&missing, &missing), "cannot read").await;
    refused(
        base().client_certificate(&not_pem, &ca),
        "holds no PEM certificate",
    )
    .await;
    // The CA's certificate is a certificate, and no key.
    refused(
        base().client_certificate(&ca, &ca),
        "holds no PEM private key",
    )
    .await;
    let seed = playhouse_nats::Credentials::NKey {
        seed: "SUNOTASEED".to_owned(),
    };
    refused(base().credentials(seed), "not a valid seed").await;
    let ttl =
        |heartbeat: u64, ttl: Duration| base().heartbeat(Duration::from_millis(heartbeat), ttl);
    refused(ttl(10, Duration::from_millis(50)), "from 100ms").await;
    refused(ttl(1000, Duration::MAX), "from 100ms").await;
    refused(base().max_message_size(0), "above zero").await;

    // The same files, well chosen, connect.
    let node = NatsBroker::connect(base().root_certificate(&ca))
        .await
        .expect("connects");
    node.leave().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
