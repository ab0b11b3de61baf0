//! The observer sees every event of an actor, in order, on every executor: a crash and restart
//! under a supervisor, an escalation, the message events (enqueued with depth, handled with
//! duration, dropped, rejected), names, and a panicking observer contained.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::Arc;
use ::std::time::Duration;

use common::*;
use playhouse::ActorId;
use playhouse::mailbox::{Bounded, DropNewest, Reject};
use playhouse::observer::{ActorInfo, Event, EventData, EventKind, ObservedEvent};
use playhouse::prelude::*;
use playhouse::testing::{RecordingObserver, VirtualTime};

/// Panics on `Boom`, sleeps on `Nap` (by its executor's clock), counts otherwise.
struct Crashy;

enum CMsg {
    Boom,
    Nap(Duration),
    Ping(Reply<u32>),
}

impl Actor for Crashy {
    type Message = CMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Crashy {
    async fn handle(&mut self, msg: CMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            CMsg::Boom => panic!("crashy boom"),
            CMsg::Nap(d) => ctx.sleep(d).await,
            CMsg::Ping(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
        }
        Ok(())
    }
}

fn data_of(recording: &RecordingObserver, actor: ActorId) -> Vec<EventData> {
    recording
        .events()
        .into_iter()
        .filter(|e| e.actor == actor)
        .filter(|e| {
            !matches!(
                e.kind(),
                EventKind::Enqueued | EventKind::Dropped | EventKind::Rejected
            )
        })
        .map(|e| e.data)
        .collect()
}

/// A supervised child crashes and is restarted, then the supervisor is stopped: the child's
/// events are, in order, spawned, started 1, handled, panicked, its depth (the message it
/// panicked on is gone), restarted 2 (with the panic as the reason), started 2, handled, stopped
/// (shutdown); every one names it after its child id.
async fn a_crash_and_restart_in_order<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(60))
        .child(ChildSpec::new("crashy", || Crashy));
    let sup = within(&exec, LONG, spec.start(&system))
        .await
        .expect("started");
    let child = within(&exec, LONG, sup.child::<Crashy, Bounded>("crashy"))
        .await
        .expect("the child");
    assert_eq!(within(&exec, LONG, child.ask(CMsg::Ping)).await.unwrap(), 1);
    child.tell(CMsg::Boom).await.expect("queued");
    assert_eq!(
        within(&exec, LONG, child.ask(CMsg::Ping)).await.unwrap(),
        2,
        "restarted behind the same reference"
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
    within(&exec, LONG, child.wait()).await;

    let got = data_of(&recording, child.id());
    let kinds: Vec<EventKind> = recording.kinds_of(child.id());
    assert_eq!(
        kinds,
        [
            EventKind::Spawned,
            EventKind::Started,
            EventKind::Handled,
            EventKind::Panicked,
            EventKind::Depth,
            EventKind::Restarted,
            EventKind::Started,
            EventKind::Handled,
            EventKind::Stopped,
        ],
        "{got:?}"
    );
    assert!(matches!(got[1], EventData::Started { incarnation: 1 }));
    assert!(matches!(&got[3], EventData::Panicked { message } if message == "crashy boom"));
    assert!(matches!(
        &got[5],
        EventData::Restarted { incarnation: 2, reason: ExitReason::Panicked(m) } if &**m == "crashy boom"
    ));
    assert!(matches!(got[6], EventData::Started { incarnation: 2 }));
    assert!(matches!(
        got[8],
        EventData::Stopped {
            reason: ExitReason::Shutdown(None)
        }
    ));
    // Named from the start (the name is set before the child's task runs).
    for e in recording.events().iter().filter(|e| e.actor == child.id()) {
        if e.kind() != EventKind::Spawned {
            assert_eq!(e.actor_name.as_deref(), Some("crashy"), "{e:?}");
        }
        assert!(e.type_name.ends_with("Crashy"), "{}", e.type_name);
    }
    // The supervisor is observed too, and its end comes after its child's.
    let sup_kinds = recording.kinds_of(sup.id());
    assert_eq!(sup_kinds.first(), Some(&EventKind::Spawned));
    assert_eq!(sup_kinds.last(), Some(&EventKind::Stopped));
}

/// Panics in its `stopped` hook.
struct PanicsWhenStopped;

impl Actor for PanicsWhenStopped {
    /// `true`: the handler panics too.
    type Message = bool;
    type Error = TestError;
}

impl<V: Env> Handler<V> for PanicsWhenStopped {
    async fn handle(&mut self, panic: bool, _: &mut Context<Self, V>) -> Result<(), TestError> {
        assert!(!panic, "boom in handle");
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
        panic!("boom in stopped");
    }
}

/// A panic in the `stopped` hook is observed as a handler's is: one `Panicked`, then `Stopped`
/// with the panic as the reason.
async fn a_panicking_stopped_hook_is_observed<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let actor = system.spawn(PanicsWhenStopped);
    actor.tell(false).await.expect("queued");
    actor.stop();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(&reason, ExitReason::Panicked(m) if &**m == "boom in stopped"));
    let kinds = recording.kinds_of(actor.id());
    assert_eq!(
        kinds,
        [
            EventKind::Spawned,
            EventKind::Started,
            EventKind::Handled,
            EventKind::Panicked,
            EventKind::Stopped,
        ]
    );
    let got = data_of(&recording, actor.id());
    assert!(matches!(&got[3], EventData::Panicked { message } if message == "boom in stopped"));

    // A handler's panic, then the hook's: each is told, in that order, before the end.
    let actor = system.spawn(PanicsWhenStopped);
    actor.tell(true).await.expect("queued");
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(&reason, ExitReason::Panicked(m) if &**m == "boom in stopped"));
    let got = data_of(&recording, actor.id());
    let panics: Vec<&str> = got
        .iter()
        .filter_map(|d| match d {
            EventData::Panicked { message } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(panics, ["boom in handle", "boom in stopped"]);
    assert_eq!(
        recording.kinds_of(actor.id()).last(),
        Some(&EventKind::Stopped)
    );
}

/// A supervisor whose intensity is exceeded reports `Escalated` before it stops.
async fn an_escalation_is_observed<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(60))
        .child(ChildSpec::new("crashy", || Crashy));
    let sup = within(&exec, LONG, spec.start(&system))
        .await
        .expect("started");
    let child = within(&exec, LONG, sup.child::<Crashy, Bounded>("crashy"))
        .await
        .expect("the child");
    child.tell(CMsg::Boom).await.expect("queued");
    within(&exec, LONG, sup.wait()).await;
    let kinds = recording.kinds_of(sup.id());
    let escalated = kinds.iter().position(|k| *k == EventKind::Escalated);
    let stopped = kinds.iter().position(|k| *k == EventKind::Stopped);
    assert!(
        matches!((escalated, stopped), (Some(e), Some(s)) if e < s),
        "{kinds:?}"
    );
    let events = recording.events();
    let e = events
        .iter()
        .find(|e| e.actor == sup.id() && e.kind() == EventKind::Escalated)
        .unwrap();
    assert!(matches!(
        &e.data,
        EventData::Escalated { reason: ExitReason::Shutdown(Some(why)) } if why.contains("intensity")
    ));
    assert_eq!(
        recording.kinds_of(child.id()),
        [
            EventKind::Spawned,
            EventKind::Started,
            EventKind::Panicked,
            EventKind::Stopped
        ]
    );
}

/// Handling time is measured by the executor's clock: under virtual time a handler that sleeps
/// 5 s is reported as 5 s exactly.
async fn handled_duration_is_the_executors_time<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let recording = RecordingObserver::new();
    let system = System::new(vt.clone()).with_observer(recording.clone());
    let actor = system.spawn(Crashy);
    actor
        .tell(CMsg::Nap(Duration::from_secs(5)))
        .await
        .expect("queued");
    eventually(&exec, "the handler to sleep", || vt.sleeping() == 1).await;
    vt.advance(Duration::from_secs(5));
    within(&exec, LONG, actor.ask(CMsg::Ping)).await.unwrap();
    // The ping's handler answers before it returns, and is counted when it returns.
    eventually(&exec, "both handlers counted", || {
        recording.count(EventKind::Handled) == 2
    })
    .await;
    let handled: Vec<Duration> = recording
        .events()
        .into_iter()
        .filter_map(|e| match e.data {
            EventData::Handled { duration, .. } => Some(duration),
            _ => None,
        })
        .collect();
    assert_eq!(handled, [Duration::from_secs(5), Duration::ZERO]);
}

/// Sender-side events: each accepted message is `Enqueued` with the depth it makes; a full
/// `DropNewest` mailbox reports `Dropped`, a full `Reject` one `Rejected`.
async fn message_events<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());

    let (rec, _) = Recorder::new();
    let dropper = system
        .spawner(Bounded::<DropNewest>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &dropper).await;
    recording.clear();
    for n in 0..3 {
        dropper.tell(Msg::Item(n)).await.expect("queued or dropped");
    }
    let kinds: Vec<EventKind> = recording.events().iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Enqueued, EventKind::Enqueued, EventKind::Dropped]
    );
    let depths: Vec<(usize, u64)> = recording
        .events()
        .iter()
        .filter_map(|e| match e.data {
            EventData::Enqueued { depth, reading } => Some((depth, reading)),
            _ => None,
        })
        .collect();
    assert_eq!(depths.iter().map(|d| d.0).collect::<Vec<_>>(), [1, 2]);
    assert!(depths[0].1 < depths[1].1, "readings in order: {depths:?}");
    gate.open();

    let (rec, _) = Recorder::new();
    let rejecter = system
        .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &rejecter).await;
    recording.clear();
    rejecter.try_tell(Msg::Item(1)).expect("room");
    assert!(rejecter.try_tell(Msg::Item(2)).is_err());
    // The dropper, let go above, may still be handling its items on another thread: only the
    // rejecter's own events are in question here.
    let kinds: Vec<EventKind> = recording
        .events()
        .iter()
        .filter(|e| e.actor == rejecter.id())
        .map(Event::kind)
        .collect();
    assert_eq!(kinds, [EventKind::Enqueued, EventKind::Rejected]);
    gate.open();
}

/// An observer that panics on every event: nothing else notices.
struct Panicky;

impl Observer for Panicky {
    fn observe(&self, _: &ActorInfo<'_>, _: &ObservedEvent<'_>) {
        panic!("observer boom");
    }
}

async fn a_panicking_observer_is_contained<E: Executor>(exec: E) {
    // Paired with a recorder, which still sees every event.
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer((Panicky, recording.clone()));
    let actor = system.spawn(Crashy);
    assert_eq!(within(&exec, LONG, actor.ask(CMsg::Ping)).await.unwrap(), 1);
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        recording.kinds_of(actor.id()),
        [
            EventKind::Spawned,
            EventKind::Started,
            EventKind::Handled,
            EventKind::Stopped
        ]
    );
}

/// Only actors spawned from the observed system are observed; a system without an observer
/// tells nobody.
async fn only_the_observed_system_is_observed<E: Executor>(exec: E) {
    let plain = System::new(exec.clone());
    assert!(plain.observer().is_none());
    let recording = RecordingObserver::new();
    let observed = plain.clone().with_observer(recording.clone());
    let unseen = plain.spawn(Crashy);
    let seen = observed.spawn(Crashy);
    within(&exec, LONG, unseen.ask(CMsg::Ping)).await.unwrap();
    within(&exec, LONG, seen.ask(CMsg::Ping)).await.unwrap();
    let actors: Vec<ActorId> = recording.events().iter().map(|e| e.actor).collect();
    assert!(actors.contains(&seen.id()));
    assert!(!actors.contains(&unseen.id()));
    // Named by hand: later events carry the name.
    seen.set_name(Arc::<str>::from("seen"));
    assert_eq!(seen.name().as_deref(), Some("seen"));
    within(&exec, LONG, seen.ask(CMsg::Ping)).await.unwrap();
    let last = recording.events().pop().unwrap();
    assert_eq!(last.actor_name.as_deref(), Some("seen"));
}

/// The kinds of `actor`'s events but sends (whose order against its own events is a race).
fn kinds_but_enqueued(recording: &RecordingObserver, actor: ActorId) -> Vec<EventKind> {
    recording
        .events()
        .iter()
        .filter(|e| e.actor == actor && e.kind() != EventKind::Enqueued)
        .map(Event::kind)
        .collect()
}

/// Messages discarded unhandled as an incarnation ends are told, with their number: the queue
/// a restart drains (before the depth and the restart), and the backlog of a kill (before the
/// end); `Metrics` counts the first (the actor leaves its table as it ends).
async fn discarded_messages_are_told<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let recording = RecordingObserver::new();
    let metrics = playhouse::observer::Metrics::new();
    let system = System::new(vt.clone()).with_observer((recording.clone(), metrics.clone()));

    // A nap holds the actor while a panic and two naps queue behind it; the restart drains them.
    let drained = system
        .spawner(Bounded::<playhouse::mailbox::Block>::default())
        .spawn_supervised(Crashy, Drains(|| Crashy));
    drained
        .tell(CMsg::Nap(Duration::from_secs(1)))
        .await
        .expect("queued");
    eventually(&exec, "the nap", || vt.sleeping() == 1).await;
    drained.tell(CMsg::Boom).await.expect("queued");
    for _ in 0..2 {
        drained
            .tell(CMsg::Nap(Duration::ZERO))
            .await
            .expect("queued");
    }
    vt.advance(Duration::from_secs(1));
    eventually(&exec, "the drain", || drained.discarded_count() == 2).await;
    assert_eq!(
        within(&exec, LONG, drained.ask(CMsg::Ping)).await.unwrap(),
        2
    );
    let kinds = kinds_but_enqueued(&recording, drained.id());
    let got = data_of(&recording, drained.id());
    let panicked = kinds.iter().position(|k| *k == EventKind::Panicked);
    assert_eq!(
        &kinds[panicked.expect("the panic told")..][..4],
        [
            EventKind::Panicked,
            EventKind::Discarded,
            EventKind::Depth,
            EventKind::Restarted,
        ],
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|d| matches!(d, EventData::Discarded { count: 2 })),
        "{got:?}"
    );
    eventually(&exec, "the discard counted", || {
        metrics
            .snapshot(drained.id())
            .is_some_and(|m| m.discarded == 2)
    })
    .await;

    // A kill while a nap holds the actor and three more wait: the three are discarded.
    let killed = system.spawn(Crashy);
    killed
        .tell(CMsg::Nap(Duration::from_secs(1)))
        .await
        .expect("queued");
    eventually(&exec, "the second nap", || vt.sleeping() == 1).await;
    for _ in 0..3 {
        killed
            .tell(CMsg::Nap(Duration::ZERO))
            .await
            .expect("queued");
    }
    killed.kill();
    within(&exec, LONG, killed.wait()).await;
    let kinds = kinds_but_enqueued(&recording, killed.id());
    let got = data_of(&recording, killed.id());
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [EventKind::Discarded, EventKind::Stopped],
        "{got:?}"
    );
    assert!(
        matches!(got[got.len() - 2], EventData::Discarded { count: 3 }),
        "{got:?}"
    );
    assert_eq!(killed.discarded_count(), 3);
}

/// `Gate` waits until the test opens it; `KillSelf` kills the actor and returns without
/// suspending; `Bomb`'s drop panics (while armed); `Boom` panics.
struct Gated;

enum GMsg {
    Gate(futures::channel::oneshot::Receiver<()>),
    KillSelf,
    Boom,
    Plain,
    /// Held for its drop, never read.
    Bomb(#[allow(dead_code)] Bomb),
}

struct Bomb(Arc<::std::sync::atomic::AtomicBool>);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0.load(::std::sync::atomic::Ordering::SeqCst) {
            panic!("a discarded message's drop panics");
        }
    }
}

impl Actor for Gated {
    type Message = GMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Gated {
    async fn handle(&mut self, msg: GMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            GMsg::Gate(rx) => {
                let _ = rx.await;
            }
            GMsg::KillSelf => ctx.myself().kill(),
            GMsg::Boom => panic!("gated boom"),
            GMsg::Plain | GMsg::Bomb(_) => {}
        }
        Ok(())
    }
}

/// The counts of the `Discarded` events told about `actor`.
fn discards_told(recording: &RecordingObserver, actor: ActorId) -> Vec<u64> {
    data_of(recording, actor)
        .into_iter()
        .filter_map(|d| match d {
            EventData::Discarded { count } => Some(count),
            _ => None,
        })
        .collect()
}

/// A kill that the message loop finds (the handler that killed did not suspend) discards the
/// message it found next and then the rest: one end, told as one `Discarded` of all three.
async fn a_kill_and_its_backlog_are_told_as_one_discard<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let actor = system.spawn(Gated);
    let (open, gate) = futures::channel::oneshot::channel();
    actor.tell(GMsg::Gate(gate)).await.expect("queued");
    actor.tell(GMsg::KillSelf).await.expect("queued");
    for _ in 0..3 {
        actor.tell(GMsg::Plain).await.expect("queued");
    }
    open.send(()).unwrap();
    within(&exec, LONG, actor.wait()).await;
    assert_eq!(actor.discarded_count(), 3);
    assert_eq!(discards_told(&recording, actor.id()), [3]);
}

/// The observer is told of a discard before the first discarded message is dropped: a drop
/// that panics (user code) cannot leave messages counted and untold.
async fn a_discard_cut_by_a_panicking_drop_is_told_in_full<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let actor = system
        .spawner(Bounded::<playhouse::mailbox::Block>::default())
        .spawn_supervised(Gated, Drains(|| Gated));
    let armed = Arc::new(::std::sync::atomic::AtomicBool::new(true));
    let (open, gate) = futures::channel::oneshot::channel();
    actor.tell(GMsg::Gate(gate)).await.expect("queued");
    actor.tell(GMsg::Boom).await.expect("queued");
    actor.tell(GMsg::Bomb(Bomb(armed))).await.expect("queued");
    actor.tell(GMsg::Plain).await.expect("queued");
    open.send(()).unwrap();
    eventually(&exec, "the drain", || actor.discarded_count() == 2).await;
    assert_eq!(discards_told(&recording, actor.id()), [2]);
    // The panicking drop was contained: the restart went on.
    actor
        .tell(GMsg::Plain)
        .await
        .expect("the next incarnation takes messages");
    assert!(actor.is_alive());
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
    assert_eq!(actor.discarded_count(), 2);
}

/// Blocks its thread in `stopped` until the test lets it go, so that what happens before and
/// after the hook can be told apart; `Gate` waits; `KillSelf` kills the actor without suspending.
struct Held {
    hold: Option<::std::sync::mpsc::Receiver<()>>,
}

enum HMsg {
    Gate(futures::channel::oneshot::Receiver<()>),
    KillSelf,
    Ping(Reply<u32>),
}

impl Actor for Held {
    type Message = HMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Held {
    async fn handle(&mut self, msg: HMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            HMsg::Gate(rx) => {
                let _ = rx.await;
            }
            HMsg::KillSelf => ctx.myself().kill(),
            HMsg::Ping(reply) => {
                let _ = reply.send(1);
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
        // Blocks the thread (a kill cuts `stopped` only at a suspension).
        if let Some(rx) = self.hold.take() {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// The message a kill finds next is discarded with the backlog: its asker hears
/// `NoReply::Stopped` only once the observer has been told of the discard. (It was dropped at
/// once, and told only after the `stopped` hook.)
async fn a_kills_discard_is_told_before_its_asker_hears<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let (release, hold) = ::std::sync::mpsc::channel();
    let actor = system.spawn(Held { hold: Some(hold) });
    let (open, gate) = futures::channel::oneshot::channel();
    actor.tell(HMsg::Gate(gate)).await.expect("queued");
    actor.tell(HMsg::KillSelf).await.expect("queued");
    let mut ask = Box::pin(actor.ask(HMsg::Ping));
    assert!(futures::poll!(&mut ask).is_pending(), "the ask is queued");
    open.send(()).unwrap();
    // `stopped` is let go a while later, whatever the asker has heard by then.
    ::std::thread::spawn(move || {
        ::std::thread::sleep(Duration::from_millis(300));
        let _ = release.send(());
    });
    let answer = within(&exec, LONG, ask).await;
    assert!(
        matches!(answer, Err(AskError::NoReply(NoReply::Stopped))),
        "the kill found the ask next and discarded it: {answer:?}"
    );
    assert_eq!(discards_told(&recording, actor.id()), [1]);
    within(&exec, LONG, actor.wait()).await;
    assert_eq!(actor.discarded_count(), 1);
    assert_eq!(discards_told(&recording, actor.id()), [1]);
}

/// On executors with threads to spare (the hook blocks one).
mod kill_discard {
    #[test]
    fn tokio_multi() {
        crate::common::run_tokio_multi(super::a_kills_discard_is_told_before_its_asker_hears)
    }

    #[test]
    fn std() {
        crate::common::run_std(super::a_kills_discard_is_told_before_its_asker_hears)
    }
}

executor_tests!(
    a_crash_and_restart_in_order,
    a_panicking_stopped_hook_is_observed,
    an_escalation_is_observed,
    handled_duration_is_the_executors_time,
    message_events,
    a_panicking_observer_is_contained,
    only_the_observed_system_is_observed,
    discarded_messages_are_told,
    a_kill_and_its_backlog_are_told_as_one_discard,
    a_discard_cut_by_a_panicking_drop_is_told_in_full,
);
