//! A panic in user code on the receiving node (a `From` conversion, an `ask`'s closure) is
//! refused with `Rejection::ConversionPanicked` (the encoding of an answer, after the request
//! was handled, with `Rejection::AnswerUndeliverable`), and never ends the
//! task that serves the actor: exports, pool members, remote subscriptions and sharded groups
//! go on with the next message. Neither does a message whose `Drop` panics when the node drops
//! it unhandled. One process, several nodes (each its own `NatsBroker`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{
    Actor, ActorRef, Context, DeadLetter, DeadLetterKind, Env, Handler, MessageBroker, Reply,
    System, Topic,
};
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{Export, KeyState, NatsBroker, Postcard, Rejection, RemoteError, RemoteRef};
use serde::{Deserialize, Serialize};

/// Long enough for an answer on a loaded machine; a serving task that died shows up as a
/// timeout (or `NotFound`) instead of the refusal.
const WAIT: Duration = Duration::from_secs(5);
/// The value every conversion below panics on.
const UNLUCKY: u32 = 13;

/// Told: added to the sum. Its `From` panics on [`UNLUCKY`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Num(u32);
/// Asked: answered with itself. The `ask` closure panics on [`UNLUCKY`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Echo(u32);
/// Asked: answered with the sum so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Total;
/// Asked: answered with a [`Fragile`], whose encoding panics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Break;

/// An answer whose `Serialize` panics.
#[derive(Debug, Deserialize)]
struct Fragile;

impl Serialize for Fragile {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("Fragile cannot be encoded")
    }
}

enum Msg {
    Add(u32),
    Echo(u32, Reply<u32>),
    Total(Reply<u32>),
    Break(Reply<Fragile>),
}

impl From<Num> for Msg {
    fn from(n: Num) -> Msg {
        assert_ne!(n.0, UNLUCKY, "From<Num> refuses the unlucky number");
        Msg::Add(n.0)
    }
}

fn make_echo(Echo(n): Echo, reply: Reply<u32>) -> Msg {
    assert_ne!(n, UNLUCKY, "the ask closure refuses the unlucky number");
    Msg::Echo(n, reply)
}

#[derive(Default)]
struct Sum(u32);

impl Actor for Sum {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Sum {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Echo(n, reply) => {
                let _ = reply.send(n);
            }
            Msg::Total(reply) => {
                let _ = reply.send(self.0);
            }
            Msg::Break(reply) => {
                let _ = reply.send(Fragile);
            }
        }
        Ok(())
    }
}

/// Declares what `Sum` takes, on an export or a pool member.
fn takes(
    served: Export<'_, Sum, Bounded<Block>, Postcard>,
) -> Export<'_, Sum, Bounded<Block>, Postcard> {
    served
        .tell::<Num>()
        .ask::<Echo, u32>(make_echo)
        .ask::<Total, u32>(|Total, reply| Msg::Total(reply))
        .ask::<Break, Fragile>(|Break, reply| Msg::Break(reply))
}

async fn node(server: &TestServer, name: &str) -> NatsBroker {
    NatsBroker::connect(server.node_config(name))
        .await
        .unwrap_or_else(|e| panic!("node {name}: {e}\n{}", server.log()))
}

fn system(broker: &NatsBroker) -> System<TokioExecutor, NatsBroker> {
    System::with_broker(TokioExecutor::current(), broker.clone())
}

/// Records the dead letters `broker` reports.
fn dead_letters(broker: &NatsBroker) -> Arc<Mutex<Vec<DeadLetter>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook = Arc::clone(&seen);
    broker.on_dead_letter(move |letter| hook.lock().unwrap().push(letter.clone()));
    seen
}

/// Waits until `cond` holds (polling), at most `WAIT`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < until,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that `result` is the refusal of a panicking conversion of `type_suffix`, whose panic
/// said `says`, with `msg` handed back.
fn assert_panicked<T: std::fmt::Debug, M: std::fmt::Debug + PartialEq>(
    result: Result<T, RemoteError<M>>,
    type_suffix: &str,
    says: &str,
    msg: M,
) {
    match result {
        Err(RemoteError::Rejected {
            reason: Rejection::ConversionPanicked { type_name, detail },
            msg: back,
        }) => {
            assert!(type_name.ends_with(type_suffix), "{type_name}");
            assert!(detail.contains(says), "{detail}");
            assert_eq!(back, msg);
        }
        other => panic!("expected a ConversionPanicked refusal, got {other:?}"),
    }
}

/// Asserts that `result` says the request was handled but its answer, a [`Fragile`] whose
/// encoding panicked, was lost: `AnswerLost`, no message handed back.
fn assert_answer_lost<T: std::fmt::Debug, M: std::fmt::Debug>(result: Result<T, RemoteError<M>>) {
    match result {
        Err(RemoteError::AnswerLost {
            reason: Rejection::AnswerUndeliverable { detail },
        }) => {
            assert!(detail.contains("Fragile cannot be encoded"), "{detail}");
            assert!(
                detail.contains("Fragile`"),
                "names the answer's type: {detail}"
            );
        }
        other => panic!("expected AnswerLost, got {other:?}"),
    }
}

/// What an export and a pool member share: `sum` served under the refs given, from another
/// node. Each panic is refused, and the next message of each kind is served.
async fn panics_are_refused_and_serving_goes_on(
    sender: &NatsBroker,
    num: RemoteRef<Num>,
    echo: RemoteRef<Echo>,
    total: RemoteRef<Total>,
    brk: RemoteRef<Break>,
    target: &str,
) {
    let letters = dead_letters(sender);

    // An ask whose closure panics: refused, the message back; the next ask is answered.
    assert_panicked(
        echo.ask::<u32>(Echo(UNLUCKY), WAIT).await,
        "Echo",
        "the ask closure refuses",
        Echo(UNLUCKY),
    );
    assert_eq!(echo.ask::<u32>(Echo(7), WAIT).await.unwrap(), 7);

    // An acknowledged tell whose `From` panics: refused, the message back.
    assert_panicked(
        num.tell_acked(Num(UNLUCKY), WAIT).await,
        "Num",
        "From<Num> refuses",
        Num(UNLUCKY),
    );
    num.tell_acked(Num(1), WAIT).await.expect("taken");

    // A plain tell whose `From` panics: a `Rejected` dead letter at the sender; the later
    // tells are still handled.
    num.tell(Num(UNLUCKY)).await.expect("handed to NATS");
    num.tell(Num(2)).await.expect("handed to NATS");
    eventually("the plain tell's refusal comes back", || {
        !letters.lock().unwrap().is_empty()
    })
    .await;
    {
        let letters = letters.lock().unwrap();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0].kind, DeadLetterKind::Rejected);
        assert_eq!(letters[0].target, target);
        assert!(letters[0].message_type.ends_with("Num"));
    }

    // An answer whose encoding panics: the request was handled, so it is not handed back; the
    // asker hears that the answer was lost, and why.
    assert_answer_lost(brk.ask::<Fragile>(Break, WAIT).await);

    // Only the tells that converted were handled, and the actor is unharmed.
    num.tell_acked(Num(4), WAIT).await.expect("taken");
    assert_eq!(total.ask::<u32>(Total, WAIT).await.unwrap(), 1 + 2 + 4);
}

#[tokio::test]
async fn an_export_survives_panicking_conversions() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let sum: ActorRef<Sum> = system(&a).spawn(Sum::default());
    takes(a.export("sum", &sum))
        .start()
        .await
        .expect("the name is free");

    panics_are_refused_and_serving_goes_on(
        &b,
        b.remote("sum"),
        b.remote("sum"),
        b.remote("sum"),
        b.remote("sum"),
        "sum",
    )
    .await;
    assert!(sum.is_alive());
    assert_eq!(b.registration("sum").await.unwrap().unwrap().node, "a");
}

#[tokio::test]
async fn a_pool_member_survives_panicking_conversions() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let sum: ActorRef<Sum> = system(&a).spawn(Sum::default());
    takes(a.join_pool("sums", &sum))
        .start()
        .await
        .expect("joined");

    panics_are_refused_and_serving_goes_on(
        &b,
        b.pool("sums"),
        b.pool("sums"),
        b.pool("sums"),
        b.pool("sums"),
        "sums",
    )
    .await;
    assert!(sum.is_alive());
}

#[tokio::test]
async fn a_remote_subscription_survives_a_panicking_conversion() {
    let server = TestServer::start().expect("nats-server");
    let publisher = node(&server, "publisher").await;
    let subscriber = node(&server, "subscriber").await;
    let sum: ActorRef<Sum> = system(&subscriber).spawn(Sum::default());
    let topic: Topic<Num> = Topic::new("numbers");
    let _subscription = subscriber
        .subscribe_remote(&topic, &sum)
        .await
        .expect("subscribed");
    let letters = dead_letters(&subscriber);

    publisher
        .publish_remote(&topic, Num(UNLUCKY))
        .await
        .unwrap();
    publisher.publish_remote(&topic, Num(2)).await.unwrap();
    publisher.publish_remote(&topic, Num(3)).await.unwrap();
    let mut handled = 0;
    for _ in 0..(WAIT.as_millis() / 20) {
        handled = sum.ask(Msg::Total).await.expect("the actor answers");
        if handled == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        handled, 5,
        "the messages after the panic were not delivered"
    );
    // Counted as a message the subscriber could not read, on its own node.
    assert_eq!(subscriber.dead_letters().get(DeadLetterKind::Rejected), 1);
    let letters = letters.lock().unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].target, "numbers");
    assert!(letters[0].message_type.ends_with("Num"));
}

#[tokio::test]
async fn a_sharded_group_survives_panicking_conversions() {
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let _sums = a
        .sharded("sums", |_key: &str, _state: KeyState| async {
            Ok::<_, Infallible>(Sum::default())
        })
        .tell::<Num>()
        .ask::<Echo, u32>(make_echo)
        .ask::<Total, u32>(|Total, reply| Msg::Total(reply))
        .ask::<Break, Fragile>(|Break, reply| Msg::Break(reply))
        .start(&system(&a))
        .await
        .expect("serving");

    let (num, echo) = (b.sharded_ref::<Num>("sums"), b.sharded_ref::<Echo>("sums"));
    for key in ["k1", "k2"] {
        match echo.ask::<u32>(key, Echo(UNLUCKY), WAIT).await {
            Err(RemoteError::Rejected {
                reason: Rejection::ConversionPanicked { type_name, .. },
                msg: Echo(UNLUCKY),
            }) => assert!(type_name.ends_with("Echo")),
            other => panic!("{other:?}"),
        }
        assert_eq!(echo.ask::<u32>(key, Echo(5), WAIT).await.unwrap(), 5);
        match num.tell(key, Num(UNLUCKY), WAIT).await {
            Err(RemoteError::Rejected {
                reason: Rejection::ConversionPanicked { type_name, .. },
                msg: Num(UNLUCKY),
            }) => assert!(type_name.ends_with("Num")),
            other => panic!("{other:?}"),
        }
        num.tell(key, Num(3), WAIT).await.expect("taken");
        assert_answer_lost(
            b.sharded_ref::<Break>("sums")
                .ask::<Fragile>(key, Break, WAIT)
                .await,
        );
        let total: u32 = b
            .sharded_ref::<Total>("sums")
            .ask(key, Total, WAIT)
            .await
            .unwrap();
        assert_eq!(total, 3);
    }
}

/// Told: becomes an armed [`Bomb`] on the receiving node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Armed;
/// Asked: answered with the bombs handled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Defused;

/// A message part whose `Drop` panics unless the handler disarmed it: dropped unhandled (by a
/// node whose actor's mailbox refused it), it panics in the node's serving task.
struct Bomb {
    armed: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("an unhandled Bomb went off in its Drop");
        }
    }
}

enum GateMsg {
    Bomb(Bomb),
    Defused(Reply<u32>),
}

impl From<Armed> for GateMsg {
    fn from(Armed: Armed) -> GateMsg {
        GateMsg::Bomb(Bomb { armed: true })
    }
}

/// Disarms and counts bombs; holds the first one until `open` is notified, telling `holding`
/// that it does.
struct Gate {
    handled: u32,
    holding: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Notify>,
}

impl Actor for Gate {
    type Message = GateMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Gate {
    async fn handle(&mut self, msg: GateMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            GateMsg::Bomb(mut bomb) => {
                bomb.armed = false;
                self.handled += 1;
                if self.handled == 1 {
                    self.holding.notify_one();
                    self.open.notified().await;
                }
            }
            GateMsg::Defused(reply) => {
                let _ = reply.send(self.handled);
            }
        }
        Ok(())
    }
}

/// Told: its `From` always panics, and says the blob twice over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Blob(String);

impl From<Blob> for Msg {
    fn from(Blob(text): Blob) -> Msg {
        panic!("a bad blob: {text} (again: {text})")
    }
}

/// A refusal whose text (here a panic's message) is over the server's limit, for a message
/// within it, is cut to fit: the sender still hears `ConversionPanicked` with its message back
/// (an acknowledged tell), or gets the `Rejected` dead letter (a plain tell). Whole, the
/// server refused it, and the sender heard nothing (a timeout; no dead letter at all).
#[tokio::test]
async fn a_refusal_too_long_for_the_server_is_cut_to_fit() {
    let server = TestServer::builder()
        .max_payload(4096)
        .start()
        .expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let sum: ActorRef<Sum> = system(&a).spawn(Sum::default());
    a.export("sum", &sum)
        .tell::<Blob>()
        .start()
        .await
        .expect("the name is free");
    let letters = dead_letters(&b);
    let blob = Blob("x".repeat(3000));
    let sent: RemoteRef<Blob> = b.remote("sum");
    match sent.tell_acked(blob.clone(), WAIT).await {
        Err(RemoteError::Rejected {
            reason: Rejection::ConversionPanicked { type_name, detail },
            msg,
        }) => {
            assert!(type_name.ends_with("Blob"), "{type_name}");
            assert!(detail.starts_with("a bad blob: xxx"), "{detail}");
            assert!(detail.ends_with('…') && detail.len() < 4096, "{detail}");
            assert_eq!(msg, blob);
        }
        other => panic!("expected a ConversionPanicked refusal, got {other:?}"),
    }
    sent.tell(blob).await.expect("handed to NATS");
    eventually("the plain tell's refusal comes back", || {
        !letters.lock().unwrap().is_empty()
    })
    .await;
    let letters = letters.lock().unwrap();
    assert_eq!(letters[0].kind, DeadLetterKind::Rejected);
    assert!(letters[0].message_type.ends_with("Blob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_drop_panics_does_not_end_serving() {
    use playhouse_core::mailbox::Reject;
    let server = TestServer::start().expect("nats-server");
    let a = node(&server, "a").await;
    let b = node(&server, "b").await;
    let holding = Arc::new(tokio::sync::Notify::new());
    let open = Arc::new(tokio::sync::Notify::new());
    let gate = system(&a).spawn_with(
        Gate {
            handled: 0,
            holding: Arc::clone(&holding),
            open: Arc::clone(&open),
        },
        Bounded::<Reject>::with_capacity(1).unwrap(),
    );
    a.export("gate", &gate)
        .tell::<Armed>()
        .ask::<Defused, u32>(|Defused, reply| GateMsg::Defused(reply))
        .start()
        .await
        .expect("the name is free");
    let armed: RemoteRef<Armed> = b.remote("gate");
    let defused: RemoteRef<Defused> = b.remote("gate");

    // The first bomb is held by the handler, the second waits in the mailbox (capacity 1).
    armed.tell_acked(Armed, WAIT).await.expect("taken");
    tokio::time::timeout(WAIT, holding.notified())
        .await
        .expect("the handler holds the first bomb");
    armed.tell_acked(Armed, WAIT).await.expect("queued");
    // The third is refused: node a drops it unhandled, and its `Drop` panics there.
    match armed.tell_acked(Armed, WAIT).await {
        Err(RemoteError::Full(Armed)) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    // Node a still serves the name. The ask goes into the same `Reject` mailbox: asked again
    // while the second bomb is there.
    open.notify_one();
    assert_eq!(handled(&defused).await, 2);
    armed.tell_acked(Armed, WAIT).await.expect("taken");
    assert_eq!(handled(&defused).await, 3);
}

/// Asks the gate how many bombs it handled, again while its one-slot mailbox is full.
async fn handled(defused: &RemoteRef<Defused>) -> u32 {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match defused.ask::<u32>(Defused, WAIT).await {
            Ok(n) => return n,
            Err(RemoteError::Full(_)) if tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}
