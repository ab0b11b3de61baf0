//! Request-response through the broker, by name (issue #18), on every executor: answered,
//! not found, wrong type, closed, dropped, panicked, deadlocked, timed out, and many requests
//! answered late and out of order, each reaching only its own requester.
//!
//! Timeouts run on `VirtualTime`: a request expires when the test moves the clock, never
//! because the machine was slow. A test moves it only once every request it is about to expire
//! has started its timer (`VirtualTime::sleeping`).

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::collections::{BTreeMap, BTreeSet};
use ::std::convert::Infallible;
use ::std::sync::atomic::{AtomicUsize, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use playhouse::mailbox::Unbounded;
use playhouse::prelude::*;
use playhouse::testing::VirtualTime;
use playhouse::{CorrelationId, DeadLetter, DeadLetterKind, NoReply, Request, RequestError};

executor_tests!(
    a_request_by_name_is_answered,
    a_handler_requests_through_its_context,
    a_request_to_a_missing_name_is_not_found_and_a_dead_letter,
    a_request_with_the_wrong_type_is_refused_without_a_dead_letter,
    a_request_past_its_timeout_fails_and_its_late_answer_reaches_nobody,
    concurrent_requests_answered_late_and_out_of_order_each_get_their_own,
    a_request_still_waiting_for_room_when_it_expires_is_handed_back,
    a_dropped_request_is_no_reply,
    a_request_to_a_panicking_handler_is_no_reply,
    a_request_to_a_stopping_actor_is_handed_back_and_a_dead_letter,
    an_actor_requesting_itself_is_a_deadlock,
    requests_racing_their_timeouts_balance_the_ledger,
    an_answer_accepted_as_its_request_times_out_is_counted_late,
);

// ---------------------------------------------------------------------------------------------
// Test actors

/// Answers at once: doubles; or drops the request; or panics holding it.
struct Doubler;

enum D {
    Double(u64, Request<u64>),
    /// Answers with the request's id.
    Id(Request<CorrelationId>),
    Drop(Request<u64>),
    Panic(Request<u64>),
}

impl Actor for Doubler {
    type Message = D;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Doubler {
    async fn handle(&mut self, msg: D, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            D::Double(n, request) => {
                request.respond(2 * n).expect("the requester waits");
            }
            D::Id(request) => {
                let id = request.id();
                request.respond(id).expect("the requester waits");
            }
            D::Drop(request) => drop(request),
            D::Panic(_request) => panic!("doubler boom"),
        }
        Ok(())
    }
}

/// What a [`Holder`] did with one answer: the payload, whether the requester had already gone,
/// and what `respond` returned.
type Outcome = (u64, bool, Result<(), u64>);

/// Holds every request until told to answer them all, in an order of the test's choosing.
struct Holder {
    held: BTreeMap<u64, Request<u64>>,
    holding: Arc<AtomicUsize>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
}

enum H {
    /// Held; answered `answer(payload)` on `Release`.
    Ask(u64, Request<u64>),
    /// Answers the held requests in the order of these payloads.
    Release(Vec<u64>),
    /// Waits for the gate (keeping the mailbox from being emptied).
    Wait(Reply<()>, oneshot::Receiver<()>),
}

fn answer(payload: u64) -> u64 {
    payload * 1000 + 1
}

impl Holder {
    fn new() -> (Self, Arc<AtomicUsize>, Arc<Mutex<Vec<Outcome>>>) {
        let holding = Arc::new(AtomicUsize::new(0));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        (
            Holder {
                held: BTreeMap::new(),
                holding: holding.clone(),
                outcomes: outcomes.clone(),
            },
            holding,
            outcomes,
        )
    }
}

impl Actor for Holder {
    type Message = H;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Holder {
    async fn handle(&mut self, msg: H, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            H::Ask(payload, request) => {
                self.held.insert(payload, request);
                self.holding.fetch_add(1, Ordering::SeqCst);
            }
            H::Release(order) => {
                for payload in order {
                    let request = self.held.remove(&payload).expect("a held payload");
                    let gone = request.is_closed();
                    let result = request.respond(answer(payload));
                    self.outcomes.lock().unwrap().push((payload, gone, result));
                }
            }
            H::Wait(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
        }
        Ok(())
    }
}

/// Collects the dead letters a hook sees.
fn watch<E: Executor>(system: &System<E>) -> Arc<Mutex<Vec<DeadLetter>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    system
        .broker()
        .on_dead_letter(move |letter| log.lock().unwrap().push(letter.clone()));
    seen
}

/// Makes `request` in a task of its own; the receiver gets its result.
fn spawn_request<E: Executor, Ex: Executor>(
    spawn_on: &Ex,
    system: &System<E>,
    name: &'static str,
    payload: u64,
    timeout: Duration,
) -> oneshot::Receiver<Result<u64, RequestError<H>>> {
    let (tx, rx) = oneshot::channel();
    let broker = system.broker().clone();
    spawn_on.spawn(async move {
        let result = broker
            .request::<Holder, Bounded, _>(name, |r| H::Ask(payload, r), timeout)
            .await;
        let _ = tx.send(result);
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn a_request_by_name_is_answered<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let doubler = system.spawn(Doubler);
    system.broker().register("doubler", &doubler).unwrap();
    let broker = system.broker();
    let answer = within(
        &exec,
        LONG,
        broker.request::<Doubler, Bounded, _>("doubler", |r| D::Double(21, r), LONG),
    )
    .await;
    assert_eq!(answer.unwrap(), 42);
    // Each request has an id of its own, and the handler sees it.
    let a = within(
        &exec,
        LONG,
        broker.request::<Doubler, Bounded, _>("doubler", D::Id, LONG),
    )
    .await
    .unwrap();
    let b = within(
        &exec,
        LONG,
        broker.request::<Doubler, Bounded, _>("doubler", D::Id, LONG),
    )
    .await
    .unwrap();
    assert!(a < b, "{a} then {b}");
    // Everything was delivered: no dead letter.
    assert_eq!(broker.dead_letters().total(), 0);
    doubler.stop();
    within(&exec, LONG, doubler.wait()).await;
}

/// Relays a doubling request through its context's broker (generic over the broker).
struct Client;

enum C {
    Relay(u64, Reply<Result<u64, String>>),
}

impl Actor for Client {
    type Message = C;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Client {
    async fn handle(&mut self, msg: C, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let C::Relay(n, reply) = msg;
        let answer = ctx
            .broker()
            .request::<Doubler, Bounded, _>("doubler", |r| D::Double(n, r), LONG)
            .await;
        let _ = reply.send(answer.map_err(|e| e.to_string()));
        Ok(())
    }
}

async fn a_handler_requests_through_its_context<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let client = system.spawn(Client);
    // Before the doubler exists: not found, from inside the handler.
    let missing = within(&exec, LONG, client.ask(|r| C::Relay(1, r)))
        .await
        .unwrap();
    assert_eq!(
        missing,
        Err("no live actor is registered under \"doubler\"".to_owned())
    );
    let doubler = system.spawn(Doubler);
    system.broker().register("doubler", &doubler).unwrap();
    let answer = within(&exec, LONG, client.ask(|r| C::Relay(5, r)))
        .await
        .unwrap();
    assert_eq!(answer, Ok(10));
    assert_eq!(system.broker().dead_letters().no_such_name, 1);
    client.stop();
    doubler.stop();
    within(&exec, LONG, client.wait()).await;
    within(&exec, LONG, doubler.wait()).await;
}

async fn a_request_to_a_missing_name_is_not_found_and_a_dead_letter<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let seen = watch(&system);
    let broker = system.broker();
    let result = within(
        &exec,
        LONG,
        broker.request::<Doubler, Bounded, u64>(
            "nobody",
            |_| panic!("make is not called when nobody has the name"),
            LONG,
        ),
    )
    .await;
    match result {
        Err(RequestError::NotFound { name }) => assert_eq!(name, "nobody"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let counts = broker.dead_letters();
    assert_eq!(counts.no_such_name, 1);
    assert_eq!(counts.total(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [DeadLetter {
            kind: DeadLetterKind::NoSuchName,
            target: "nobody".into(),
            message_type: ::std::any::type_name::<D>(),
            correlation: None,
        }]
    );
    // A name whose actor has ended is missing too.
    let doubler = system.spawn(Doubler);
    broker.register("gone", &doubler).unwrap();
    doubler.stop();
    within(&exec, LONG, doubler.wait()).await;
    eventually(&exec, "the ended actor's name removed", || {
        broker.registered() == 0
    })
    .await;
    let result = within(
        &exec,
        LONG,
        broker.request::<Doubler, Bounded, _>("gone", |r| D::Double(1, r), LONG),
    )
    .await;
    assert!(result.unwrap_err().is_not_found());
    assert_eq!(broker.dead_letters().no_such_name, 2);
}

async fn a_request_with_the_wrong_type_is_refused_without_a_dead_letter<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let doubler = system.spawn(Doubler);
    let broker = system.broker();
    broker.register("doubler", &doubler).unwrap();
    // Another actor type.
    let result = within(
        &exec,
        LONG,
        broker.request::<Holder, Bounded, u64>(
            "doubler",
            |_| panic!("make is not called for the wrong type"),
            LONG,
        ),
    )
    .await;
    match result {
        Err(RequestError::WrongType {
            name,
            registered,
            requested,
        }) => {
            assert_eq!(name, "doubler");
            assert!(registered.contains("Doubler"), "{registered}");
            assert!(requested.contains("Holder"), "{requested}");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    // The right actor, another mailbox.
    let result = within(
        &exec,
        LONG,
        broker.request::<Doubler, Unbounded, _>("doubler", |r| D::Double(1, r), LONG),
    )
    .await;
    assert!(
        matches!(&result, Err(RequestError::WrongType { requested, .. }) if requested.contains("Unbounded")),
        "{result:?}"
    );
    // A wrong type is the caller's mistake, not an undelivered message.
    assert_eq!(broker.dead_letters().total(), 0);
    doubler.stop();
    within(&exec, LONG, doubler.wait()).await;
}

async fn a_request_past_its_timeout_fails_and_its_late_answer_reaches_nobody<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let seen = watch(&system);
    let (holder, holding, outcomes) = Holder::new();
    let holder = system.spawn(holder);
    system.broker().register("holder", &holder).unwrap();

    let result = spawn_request(&exec, &system, "holder", 7, Duration::from_secs(1));
    eventually(&exec, "the holder holds the request", || {
        holding.load(Ordering::SeqCst) == 1 && time.sleeping() == 1
    })
    .await;
    // Just short of the deadline: still waiting.
    time.advance(Duration::from_millis(999));
    assert_eq!(time.sleeping(), 1);
    time.advance(Duration::from_millis(1));
    let id = match within(&exec, LONG, result).await.unwrap() {
        Err(RequestError::Timeout { id, unsent: None }) => id,
        other => panic!("expected Timeout with the request delivered, got {other:?}"),
    };
    assert_eq!(system.broker().late_replies(), 0);

    // The holder answers now: too late. The answer is handed back to it and counted.
    holder.tell(H::Release(vec![7])).await.unwrap();
    eventually(&exec, "the late reply counted", || {
        system.broker().late_replies() == 1
    })
    .await;
    assert_eq!(*outcomes.lock().unwrap(), [(7, true, Err(answer(7)))]);
    assert_eq!(
        *seen.lock().unwrap(),
        [DeadLetter {
            kind: DeadLetterKind::LateReply,
            target: "holder".into(),
            message_type: "u64",
            correlation: Some(id),
        }]
    );
    assert_eq!(system.broker().dead_letters().total(), 1);

    // The next request gets its own answer, not the late one.
    let next = spawn_request(&exec, &system, "holder", 8, Duration::from_secs(1));
    eventually(&exec, "the holder holds the next request", || {
        holding.load(Ordering::SeqCst) == 2
    })
    .await;
    holder.tell(H::Release(vec![8])).await.unwrap();
    assert_eq!(within(&exec, LONG, next).await.unwrap().unwrap(), answer(8));
    assert_eq!(system.broker().late_replies(), 1);
    holder.stop();
    within(&exec, LONG, holder.wait()).await;
}

async fn concurrent_requests_answered_late_and_out_of_order_each_get_their_own<E: Executor>(
    exec: E,
) {
    const N: u64 = 64;
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let seen = watch(&system);
    let (holder, holding, outcomes) = Holder::new();
    let holder = system.spawn(holder);
    system.broker().register("holder", &holder).unwrap();

    // Odd payloads expire after a second; even ones wait an hour (the clock never gets there).
    let expires = |p: u64| p % 2 == 1;
    let (results_tx, mut results) = mpsc::unbounded();
    for p in 0..N {
        let timeout = if expires(p) {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(3600)
        };
        let rx = spawn_request(&exec, &system, "holder", p, timeout);
        let tx = results_tx.clone();
        exec.spawn(async move {
            let _ = tx.unbounded_send((p, rx.await.expect("the request task ran")));
        });
    }
    eventually(&exec, "every request held and timed", || {
        holding.load(Ordering::SeqCst) == N as usize && time.sleeping() == N as usize
    })
    .await;
    time.advance(Duration::from_secs(1));
    let mut expired = BTreeMap::new();
    for _ in 0..N / 2 {
        match next(&exec, &mut results).await {
            (p, Err(RequestError::Timeout { id, unsent: None })) => {
                assert!(expires(p), "request {p} expired too early");
                expired.insert(id, p);
            }
            (p, other) => panic!("request {p}: expected a timeout, got {other:?}"),
        }
    }
    assert_eq!(expired.len(), N as usize / 2, "one id per request");

    // Answered in a scrambled order: the late ones interleaved with the awaited ones.
    let order: Vec<u64> = (0..N).map(|i| (i * 37 + 11) % N).collect();
    assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), N as usize);
    holder.tell(H::Release(order.clone())).await.unwrap();
    for _ in 0..N / 2 {
        let (p, result) = next(&exec, &mut results).await;
        assert!(!expires(p), "request {p} expired, yet resolved again");
        assert_eq!(
            result.unwrap(),
            answer(p),
            "request {p} got another's answer"
        );
    }
    eventually(&exec, "every late reply counted", || {
        system.broker().late_replies() == N / 2
    })
    .await;
    // On the answering side: each late answer was handed back, each other one delivered.
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.iter().map(|o| o.0).collect::<Vec<_>>(), order);
    for (p, gone, result) in outcomes {
        if expires(p) {
            assert_eq!((gone, result), (true, Err(answer(p))), "request {p}");
        } else {
            assert_eq!((gone, result), (false, Ok(())), "request {p}");
        }
    }
    // The hook saw one late reply per expired request, each naming its request.
    let late: BTreeMap<_, _> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l.kind, DeadLetterKind::LateReply);
            assert_eq!(l.target, "holder");
            (l.correlation.expect("a late reply names its request"), ())
        })
        .collect();
    assert_eq!(
        late.keys().collect::<Vec<_>>(),
        expired.keys().collect::<Vec<_>>()
    );
    holder.stop();
    within(&exec, LONG, holder.wait()).await;
}

async fn a_request_still_waiting_for_room_when_it_expires_is_handed_back<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let (holder, _, _) = Holder::new();
    let holder = system.spawn_with(holder, Bounded::<Block>::with_capacity(1).unwrap());
    system.broker().register("holder", &holder).unwrap();
    // Busy in a handler, and one message queued: the mailbox is full.
    let (open, gate) = oneshot::channel::<()>();
    within(&exec, LONG, holder.ask(|r| H::Wait(r, gate)))
        .await
        .unwrap();
    holder.tell(H::Release(vec![])).await.unwrap();

    let (tx, result) = oneshot::channel();
    let broker = system.broker().clone();
    exec.spawn(async move {
        let r = broker
            .request::<Holder, Bounded<Block>, _>(
                "holder",
                |r| H::Ask(3, r),
                Duration::from_secs(1),
            )
            .await;
        let _ = tx.send(r);
    });
    eventually(&exec, "the request waits for room, timed", || {
        time.sleeping() == 1
    })
    .await;
    time.advance(Duration::from_secs(1));
    match within(&exec, LONG, result).await.unwrap() {
        Err(RequestError::Timeout {
            unsent: Some(H::Ask(3, request)),
            ..
        }) => assert!(request.is_closed(), "nobody waits for this request"),
        other => panic!("expected Timeout with the request handed back, got {other:?}"),
    }
    let _ = open.send(());
    holder.stop();
    within(&exec, LONG, holder.wait()).await;
    // It never reached the actor: not a late reply.
    assert_eq!(system.broker().dead_letters().total(), 0);
}

async fn a_dropped_request_is_no_reply<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let doubler = system.spawn(Doubler);
    system.broker().register("doubler", &doubler).unwrap();
    // The timeout is long: the requester is told at once, not when it passes.
    let result = within(
        &exec,
        LONG,
        system.broker().request::<Doubler, Bounded, _>(
            "doubler",
            D::Drop,
            Duration::from_secs(3600),
        ),
    )
    .await;
    assert!(
        matches!(result, Err(RequestError::NoReply(NoReply::Dropped))),
        "{result:?}"
    );
    assert_eq!(system.broker().dead_letters().total(), 0);
    doubler.stop();
    within(&exec, LONG, doubler.wait()).await;
}

async fn a_request_to_a_panicking_handler_is_no_reply<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let doubler = system.spawn(Doubler);
    system.broker().register("doubler", &doubler).unwrap();
    let result = within(
        &exec,
        LONG,
        system.broker().request::<Doubler, Bounded, _>(
            "doubler",
            D::Panic,
            Duration::from_secs(3600),
        ),
    )
    .await;
    assert!(
        matches!(result, Err(RequestError::NoReply(NoReply::Panicked))),
        "{result:?}"
    );
    assert_panicked_with(&within(&exec, LONG, doubler.wait()).await, "doubler boom");
}

async fn a_request_to_a_stopping_actor_is_handed_back_and_a_dead_letter<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let seen = watch(&system);
    let (holder, holding, _) = Holder::new();
    let holder = system.spawn_with(holder, Bounded::<Block>::with_capacity(1).unwrap());
    system.broker().register("holder", &holder).unwrap();
    // Busy in a handler, and one message queued: the mailbox is full, and a request waits for
    // room.
    let (open, gate) = oneshot::channel::<()>();
    within(&exec, LONG, holder.ask(|r| H::Wait(r, gate)))
        .await
        .unwrap();
    holder.tell(H::Release(vec![])).await.unwrap();
    let (tx, result) = oneshot::channel();
    let broker = system.broker().clone();
    exec.spawn(async move {
        let r = broker
            .request::<Holder, Bounded<Block>, _>("holder", |r| H::Ask(9, r), LONG)
            .await;
        let _ = tx.send(r);
    });
    eventually(&exec, "the request waits for room", || time.sleeping() == 1).await;
    // The actor stops while the request waits: its mailbox closes, and the request comes back.
    holder.stop();
    match within(&exec, LONG, result).await.unwrap() {
        Err(RequestError::Closed(H::Ask(9, _))) => {}
        other => panic!("expected Closed with the request handed back, got {other:?}"),
    }
    let counts = system.broker().dead_letters();
    assert_eq!((counts.actor_gone, counts.total()), (1, 1));
    let letter = seen.lock().unwrap()[0].clone();
    assert_eq!(letter.kind, DeadLetterKind::ActorGone);
    assert_eq!(letter.target, "holder");
    assert_eq!(letter.message_type, ::std::any::type_name::<H>());
    assert!(letter.correlation.is_some());
    // Once stopping, the actor is no longer found by name (the registry hands out no
    // reference to a closed mailbox): a request after `stop` is `NotFound`.
    let after = within(
        &exec,
        LONG,
        system
            .broker()
            .request::<Holder, Bounded<Block>, _>("holder", |r| H::Ask(10, r), LONG),
    )
    .await;
    assert!(after.unwrap_err().is_not_found());
    assert_eq!(system.broker().dead_letters().no_such_name, 1);
    let _ = open.send(());
    within(&exec, LONG, holder.wait()).await;
    assert_eq!(
        holding.load(Ordering::SeqCst),
        0,
        "neither request was handled"
    );
}
/// Requests itself by name from its own handler.
struct Narcissus;

enum N {
    Go(Reply<bool>),
    Get(Request<u64>),
}

impl Actor for Narcissus {
    type Message = N;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Narcissus {
    async fn handle(&mut self, msg: N, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            N::Go(reply) => {
                let result = ctx
                    .broker()
                    .request::<Narcissus, Bounded, _>("narcissus", N::Get, LONG)
                    .await;
                let _ = reply.send(matches!(result, Err(RequestError::Deadlock(N::Get(_)))));
            }
            N::Get(request) => {
                let _ = request.respond(1);
            }
        }
        Ok(())
    }
}

async fn an_actor_requesting_itself_is_a_deadlock<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let me = system.spawn(Narcissus);
    system.broker().register("narcissus", &me).unwrap();
    assert!(within(&exec, LONG, me.ask(N::Go)).await.unwrap());
    // From outside, the same request is answered.
    let answer = within(
        &exec,
        LONG,
        system
            .broker()
            .request::<Narcissus, Bounded, _>("narcissus", N::Get, LONG),
    )
    .await;
    assert_eq!(answer.unwrap(), 1);
    me.stop();
    within(&exec, LONG, me.wait()).await;
}

/// The request types cross threads: a request inside a message, an error from a task, a dead
/// letter shown to a hook on any thread.
#[test]
fn request_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Request<String>>();
    send_sync::<CorrelationId>();
    send::<RequestError<H>>();
    send_sync::<RequestError<u64>>();
    send_sync::<DeadLetter>();
    send_sync::<playhouse::DeadLetterCounts>();
}

/// Spins for a few microseconds, then answers, counting the answers `respond` accepted.
struct Racer(Arc<AtomicUsize>);

enum R {
    Double(u64, Request<u64>),
}

impl Actor for Racer {
    type Message = R;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Racer {
    async fn handle(
        &mut self,
        R::Double(n, request): R,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let start = ::std::time::Instant::now();
        while start.elapsed() < Duration::from_micros(n % 200) {
            ::std::hint::spin_loop();
        }
        if request.respond(n * 2).is_ok() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Requests whose timeouts race their answers, in real time (timeouts of 50 to 400 µs against
/// answers of 0 to 200 µs, from four tasks at once). Whatever wins each race, the ledger
/// balances: every request that timed out has its answer counted late, and every answer
/// `respond` accepted reached its requester or belongs to one of those. (The narrowest of these races,
/// an answer accepted as its request times out, is made certain by
/// `an_answer_accepted_as_its_request_times_out_is_counted_late`.) No timing is asserted.
async fn requests_racing_their_timeouts_balance_the_ledger<E: Executor>(exec: E) {
    const TASKS: u64 = 4;
    const EACH: u64 = 250;
    let system = System::new(exec.clone());
    let accepted = Arc::new(AtomicUsize::new(0));
    let racer = system.spawner(Unbounded).spawn(Racer(accepted.clone()));
    system.broker().register("racer", &racer).unwrap();
    let (answered, timed_out) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut done = Vec::new();
    for task in 0..TASKS {
        let (tx, rx) = oneshot::channel::<()>();
        let (broker, answered, timed_out) =
            (system.broker().clone(), answered.clone(), timed_out.clone());
        exec.spawn(async move {
            let mut seed = task * 7919 + 1;
            for i in 0..EACH {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = task * 100_000 + i * 7 + (seed >> 33) % 200;
                let timeout = Duration::from_micros(50 + (seed >> 40) % 350);
                match broker
                    .request::<Racer, Unbounded, _>("racer", |r| R::Double(n, r), timeout)
                    .await
                {
                    Ok(v) => {
                        assert_eq!(v, 2 * n);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(RequestError::Timeout { unsent: None, .. }) => {
                        timed_out.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
            let _ = tx.send(());
        });
        done.push(rx);
    }
    for rx in done {
        within(&exec, LONG, rx).await.expect("the requests ended");
    }
    racer.stop();
    within(&exec, LONG, racer.wait()).await;
    let (answered, timed_out) = (
        answered.load(Ordering::SeqCst),
        timed_out.load(Ordering::SeqCst),
    );
    assert_eq!(answered + timed_out, (TASKS * EACH) as usize);
    // Each timed-out request's answer is counted late, whether `respond` found the port
    // closed or the port accepted it as its requester gave up (then `accepted` counts it too).
    let late = system.broker().late_replies() as usize;
    let accepted = accepted.load(Ordering::SeqCst);
    assert_eq!(late, timed_out);
    assert!(
        (answered..=answered + timed_out).contains(&accepted),
        "respond accepted {accepted}, answered {answered}, timed out {timed_out}"
    );
}

/// What [`AnswersAsItTimesOut`] shares with its handler: the request held back, and the waker
/// of the timer waiting for it.
#[derive(Clone, Default)]
struct HeldBack(Arc<Mutex<Slot>>);

/// The request held back, and the waker of the timer waiting for it.
type Slot = (Option<Request<u64>>, Option<::std::task::Waker>);

/// An executor whose timers end only once a request is held back, and answer it as they end:
/// the answer lands in the requester's port after the requester looked there, and before it
/// sees its timer over, which is the race this executor makes certain.
#[derive(Clone)]
struct AnswersAsItTimesOut<E> {
    inner: E,
    held: HeldBack,
}

impl<E: Executor> Executor for AnswersAsItTimesOut<E> {
    type Sleep = ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + Send>>;

    fn spawn<F>(&self, future: F)
    where
        F: ::std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.spawn(future)
    }

    fn sleep_until(&self, _: ::std::time::Instant) -> Self::Sleep {
        let held = self.held.clone();
        Box::pin(::std::future::poll_fn(move |cx| {
            let mut slot = held.0.lock().unwrap();
            match slot.0.take() {
                Some(request) => {
                    assert_eq!(request.respond(42), Ok(()), "the port is still open");
                    ::std::task::Poll::Ready(())
                }
                None => {
                    slot.1 = Some(cx.waker().clone());
                    ::std::task::Poll::Pending
                }
            }
        }))
    }
}

/// Holds each request back for the executor's timer to answer.
struct HoldsBack(HeldBack);

impl Actor for HoldsBack {
    type Message = Request<u64>;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for HoldsBack {
    async fn handle(
        &mut self,
        request: Request<u64>,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let mut slot = (self.0).0.lock().unwrap();
        slot.0 = Some(request);
        if let Some(waker) = slot.1.take() {
            waker.wake();
        }
        Ok(())
    }
}

/// An answer that the port accepted (`respond` returned `Ok`) just as its request timed out
/// reaches nobody, and is counted as a late reply all the same: the port dropped it unread.
async fn an_answer_accepted_as_its_request_times_out_is_counted_late<E: Executor>(exec: E) {
    let held = HeldBack::default();
    let system = System::new(AnswersAsItTimesOut {
        inner: exec.clone(),
        held: held.clone(),
    });
    let seen = watch(&system);
    let actor = system.spawner(Unbounded).spawn(HoldsBack(held));
    system.broker().register("held", &actor).unwrap();
    let asked = system.broker().request::<HoldsBack, Unbounded, _>(
        "held",
        |r| r,
        Duration::from_secs(3600),
    );
    let id = match within(&exec, LONG, asked).await {
        Err(RequestError::Timeout { id, unsent: None }) => id,
        other => panic!("expected a timeout with the request delivered, got {other:?}"),
    };
    assert_eq!(system.broker().late_replies(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [DeadLetter {
            kind: DeadLetterKind::LateReply,
            target: "held".into(),
            message_type: "u64",
            correlation: Some(id),
        }]
    );
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}
