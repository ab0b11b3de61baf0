//! Dead letters of the in-memory broker (issue #18), on every executor: what could not be
//! delivered is counted per kind and shown to every hook; a panicking hook disturbs neither the
//! sender nor the other hooks; nothing delivered is ever counted.
//!
//! The late-reply and request kinds are also covered, with their requests, in
//! `broker_requests.rs`.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::time::Duration;

use common::*;
use futures::channel::oneshot;
use playhouse::prelude::*;
use playhouse::testing::VirtualTime;
use playhouse::{
    DeadLetter, DeadLetterCounts, DeadLetterKind, PublishOptions, Request, RequestError, Topic,
    UndeliveredReason,
};

executor_tests!(
    a_publish_without_subscribers_is_a_dead_letter_seen_by_the_hook,
    a_copy_for_a_gone_subscriber_is_a_dead_letter,
    nothing_delivered_is_counted,
    every_hook_sees_every_dead_letter_until_removed,
    a_panicking_hook_disturbs_neither_the_sender_nor_the_other_hooks,
);

/// Collects the dead letters a hook sees.
fn watch<E: Executor>(system: &System<E>) -> Arc<Mutex<Vec<DeadLetter>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    system
        .broker()
        .on_dead_letter(move |letter| log.lock().unwrap().push(letter.clone()));
    seen
}

fn ticks() -> Topic<u32> {
    Topic::new("ticks")
}

/// Takes ticks; its first one waits for the gate (so it can be stopped while busy).
struct Ticker {
    gate: Option<oneshot::Receiver<()>>,
    busy: Arc<AtomicBool>,
    ticks: Arc<AtomicUsize>,
}

impl Ticker {
    fn new(gate: Option<oneshot::Receiver<()>>) -> (Self, Arc<AtomicBool>, Arc<AtomicUsize>) {
        let busy = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicUsize::new(0));
        (
            Ticker {
                gate,
                busy: busy.clone(),
                ticks: ticks.clone(),
            },
            busy,
            ticks,
        )
    }
}

impl Actor for Ticker {
    type Message = u32;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Ticker {
    async fn handle(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        if let Some(gate) = self.gate.take() {
            self.busy.store(true, Ordering::SeqCst);
            let _ = gate.await;
        }
        self.ticks.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Answers requests, or holds one until told to answer it (late).
struct Answerer {
    held: Option<Request<u64>>,
}

enum A {
    Now(Request<u64>),
    Hold(Request<u64>),
    /// Answers the held request; replies with what `respond` returned.
    AnswerHeld(Reply<Result<(), u64>>),
}

impl Actor for Answerer {
    type Message = A;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Answerer {
    async fn handle(&mut self, msg: A, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            A::Now(request) => {
                let _ = request.respond(1);
            }
            A::Hold(request) => self.held = Some(request),
            A::AnswerHeld(reply) => {
                let held = self.held.take().expect("a held request");
                let _ = reply.send(held.respond(2));
            }
        }
        Ok(())
    }
}

async fn a_publish_without_subscribers_is_a_dead_letter_seen_by_the_hook<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let seen = watch(&system);
    let report = within(&exec, LONG, system.broker().publish(&ticks(), 5)).await;
    assert!(report.no_subscribers());
    assert_eq!(report.into_dead_letter(), Some(5), "handed back");
    let counts = system.broker().dead_letters();
    assert_eq!(counts.no_subscribers, 1);
    assert_eq!(counts.total(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [DeadLetter {
            kind: DeadLetterKind::NoSubscribers,
            target: "ticks".into(),
            message_type: "u32",
            correlation: None,
        }]
    );
    // A topic whose last subscriber left is without subscribers again.
    let (ticker, _, _) = Ticker::new(None);
    let ticker = system.spawn(ticker);
    let id = system.broker().subscribe(&ticks(), &ticker).unwrap();
    let report = within(&exec, LONG, system.broker().publish(&ticks(), 6)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(system.broker().dead_letters().no_subscribers, 1);
    assert!(system.broker().unsubscribe(&ticks(), id));
    let options = PublishOptions::new().with_block_wait(Duration::ZERO);
    let report = within(
        &exec,
        LONG,
        system.broker().publish_with(&ticks(), 7, options),
    )
    .await;
    assert!(report.no_subscribers());
    assert_eq!(system.broker().dead_letters().no_subscribers, 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
    ticker.stop();
    within(&exec, LONG, ticker.wait()).await;
}

async fn a_copy_for_a_gone_subscriber_is_a_dead_letter<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let seen = watch(&system);
    let (open, gate) = oneshot::channel();
    let (stopping, busy, _) = Ticker::new(Some(gate));
    let stopping = system.spawn(stopping);
    let (live, _, live_ticks) = Ticker::new(None);
    let live = system.spawn(live);
    system.broker().subscribe(&ticks(), &stopping).unwrap();
    system.broker().subscribe(&ticks(), &live).unwrap();
    // Busy, then stopped: its mailbox is closed, but it has not ended, so it is still subscribed.
    stopping.tell(0).await.unwrap();
    eventually(&exec, "the subscriber busy", || busy.load(Ordering::SeqCst)).await;
    stopping.stop();
    let report = within(&exec, LONG, system.broker().publish(&ticks(), 1)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Gone);
    assert_eq!(report.undelivered[0].subscriber, stopping.id());
    let counts = system.broker().dead_letters();
    assert_eq!((counts.actor_gone, counts.total()), (1, 1));
    assert_eq!(
        *seen.lock().unwrap(),
        [DeadLetter {
            kind: DeadLetterKind::ActorGone,
            target: "ticks".into(),
            message_type: "u32",
            correlation: None,
        }]
    );
    eventually(&exec, "the live subscriber ticked", || {
        live_ticks.load(Ordering::SeqCst) == 1
    })
    .await;
    let _ = open.send(());
    within(&exec, LONG, stopping.wait()).await;
    live.stop();
    within(&exec, LONG, live.wait()).await;
}

async fn nothing_delivered_is_counted<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let seen = watch(&system);
    let answerer = system.spawn(Answerer { held: None });
    system.broker().register("answerer", &answerer).unwrap();
    let (ticker, _, ticks_seen) = Ticker::new(None);
    let ticker = system.spawn(ticker);
    system.broker().subscribe(&ticks(), &ticker).unwrap();
    for n in 0..10 {
        let answer = within(
            &exec,
            LONG,
            system
                .broker()
                .request::<Answerer, Bounded, _>("answerer", A::Now, LONG),
        )
        .await;
        assert_eq!(answer.unwrap(), 1);
        let report = within(&exec, LONG, system.broker().publish(&ticks(), n)).await;
        assert_eq!(report.delivered, 1);
    }
    // A held request answered in time is delivered, however long it was held.
    let (tx, rx) = oneshot::channel();
    let broker = system.broker().clone();
    exec.spawn(async move {
        let r = broker
            .request::<Answerer, Bounded, _>("answerer", A::Hold, Duration::from_secs(10))
            .await;
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    eventually(&exec, "the request timed", || time.sleeping() == 1).await;
    time.advance(Duration::from_secs(9));
    let respond = within(&exec, LONG, answerer.ask(A::AnswerHeld))
        .await
        .unwrap();
    assert_eq!(respond, Ok(()));
    assert_eq!(within(&exec, LONG, rx).await.unwrap(), Ok(2));
    eventually(&exec, "every tick handled", || {
        ticks_seen.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(system.broker().dead_letters(), DeadLetterCounts::default());
    assert!(seen.lock().unwrap().is_empty());
    answerer.stop();
    ticker.stop();
    within(&exec, LONG, answerer.wait()).await;
    within(&exec, LONG, ticker.wait()).await;
}

async fn every_hook_sees_every_dead_letter_until_removed<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    // Counted before anyone watches.
    let _ = within(&exec, LONG, broker.publish(&ticks(), 0)).await;
    assert_eq!(broker.dead_letters().no_subscribers, 1);
    let logs: Vec<Arc<Mutex<Vec<DeadLetterKind>>>> = (0..3).map(|_| Arc::default()).collect();
    let ids: Vec<_> = logs
        .iter()
        .map(|log| {
            let log = log.clone();
            broker.on_dead_letter(move |l| log.lock().unwrap().push(l.kind))
        })
        .collect();
    let _ = within(&exec, LONG, broker.publish(&ticks(), 1)).await;
    let missing = within(
        &exec,
        LONG,
        broker.request::<Answerer, Bounded, _>("nobody", A::Now, LONG),
    )
    .await;
    assert!(missing.unwrap_err().is_not_found());
    let both = [DeadLetterKind::NoSubscribers, DeadLetterKind::NoSuchName];
    for log in &logs {
        assert_eq!(*log.lock().unwrap(), both);
    }
    // The middle one leaves; the others still see.
    assert!(broker.remove_dead_letter_hook(ids[1]));
    assert!(!broker.remove_dead_letter_hook(ids[1]));
    let _ = within(&exec, LONG, broker.publish(&ticks(), 2)).await;
    assert_eq!(logs[0].lock().unwrap().len(), 3);
    assert_eq!(logs[1].lock().unwrap().len(), 2);
    assert_eq!(logs[2].lock().unwrap().len(), 3);
    let counts = broker.dead_letters();
    assert_eq!((counts.no_subscribers, counts.no_such_name), (3, 1));
    assert_eq!(counts.get(DeadLetterKind::NoSubscribers), 3);
    assert_eq!(counts.total(), 4);
}

async fn a_panicking_hook_disturbs_neither_the_sender_nor_the_other_hooks<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let broker = system.broker();
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    broker.on_dead_letter(move |letter| {
        counted.fetch_add(1, Ordering::SeqCst);
        panic!("hook boom on {letter}");
    });
    let seen = watch(&system);

    // A sender on the test's task: a publish, and a request to nobody.
    let report = within(&exec, LONG, broker.publish(&ticks(), 1)).await;
    assert_eq!(report.into_dead_letter(), Some(1));
    let missing = within(
        &exec,
        LONG,
        broker.request::<Answerer, Bounded, _>("nobody", A::Now, LONG),
    )
    .await;
    assert!(matches!(missing, Err(RequestError::NotFound { .. })));

    // An actor answering late: its handler carries on, and it stays alive.
    let answerer = system.spawn(Answerer { held: None });
    broker.register("answerer", &answerer).unwrap();
    let (tx, rx) = oneshot::channel();
    let requester = broker.clone();
    exec.spawn(async move {
        let r = requester
            .request::<Answerer, Bounded, _>("answerer", A::Hold, Duration::from_secs(1))
            .await;
        let _ = tx.send(r.is_err_and(|e| e.is_timeout()));
    });
    eventually(&exec, "the request timed", || time.sleeping() == 1).await;
    time.advance(Duration::from_secs(1));
    assert!(within(&exec, LONG, rx).await.unwrap(), "timed out");
    let late = within(&exec, LONG, answerer.ask(A::AnswerHeld))
        .await
        .unwrap();
    assert_eq!(
        late,
        Err(2),
        "the late answer is handed back to the handler"
    );
    let answer = within(
        &exec,
        LONG,
        broker.request::<Answerer, Bounded, _>("answerer", A::Now, LONG),
    )
    .await;
    assert_eq!(answer.unwrap(), 1, "the actor still answers");
    assert!(answerer.is_alive());

    // Every dead letter counted, the panicking hook called for each, the other hook too.
    assert_eq!(panics.load(Ordering::SeqCst), 3);
    let kinds: Vec<_> = seen.lock().unwrap().iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            DeadLetterKind::NoSubscribers,
            DeadLetterKind::NoSuchName,
            DeadLetterKind::LateReply
        ]
    );
    let counts = broker.dead_letters();
    assert_eq!(
        (
            counts.no_subscribers,
            counts.no_such_name,
            counts.late_replies
        ),
        (1, 1, 1)
    );
    answerer.stop();
    within(&exec, LONG, answerer.wait()).await;
}
