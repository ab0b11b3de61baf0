//! The `Metrics` observer's figures per actor and for a supervisor's subtree, on every
//! executor. Handling times are read under virtual time, so they are exact.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::time::Duration;

use common::*;
use playhouse::mailbox::{Bounded, DropNewest, DropOldest, Prioritized};
use playhouse::observer::Metrics;
use playhouse::prelude::*;
use playhouse::testing::VirtualTime;

/// Naps for the time it is told (by its executor's clock), panics on `Boom`.
struct Napper;

enum NMsg {
    Nap(Duration),
    Boom,
    Ping(Reply<()>),
}

impl Actor for Napper {
    type Message = NMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Napper {
    async fn handle(&mut self, msg: NMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            NMsg::Nap(d) => ctx.sleep(d).await,
            NMsg::Boom => panic!("napper boom"),
            NMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// A ping answered after `n` handled messages shows they are counted only once the handler
/// after them has run: ping twice.
async fn settle<E: Executor, MB: Mailbox>(exec: &E, actor: &ActorRef<Napper, MB>) {
    for _ in 0..2 {
        within(exec, LONG, actor.ask(NMsg::Ping))
            .await
            .expect("ping");
    }
}

/// Handled count, mean and max handling time (virtual time: exact), depth and high-water mark,
/// restarts and panics of one actor.
async fn one_actors_figures<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let metrics = Metrics::new();
    let system = System::new(vt.clone()).with_observer(metrics.clone());
    let actor = system.spawn_restartable(Napper, |_: &ExitReason| Some(Napper));
    for secs in [2, 4] {
        actor
            .tell(NMsg::Nap(Duration::from_secs(secs)))
            .await
            .expect("queued");
    }
    // The first nap holds the actor while four pings queue behind the second.
    eventually(&exec, "the first nap", || vt.sleeping() == 1).await;
    let pings: Vec<_> = (0..4).map(|_| actor.ask(NMsg::Ping)).collect();
    let mut pings: Vec<_> = pings.into_iter().map(Box::pin).collect();
    for p in &mut pings {
        assert!(futures::poll!(p.as_mut()).is_pending());
    }
    let m = metrics.snapshot(actor.id()).expect("observed");
    assert_eq!(m.queue_depth, 5, "the second nap and four pings wait");
    assert_eq!(m.high_water_mark, 5);
    vt.advance(Duration::from_secs(2));
    eventually(&exec, "the second nap", || vt.sleeping() == 1).await;
    vt.advance(Duration::from_secs(4));
    for p in pings {
        within(&exec, LONG, p).await.expect("ping");
    }
    actor.tell(NMsg::Boom).await.expect("queued");
    settle(&exec, &actor).await;

    let m = metrics.snapshot(actor.id()).expect("observed");
    // Two naps, four pings and the first settling ping; the second may still be finishing.
    assert!((7..=8).contains(&m.handled), "{m:?}");
    assert_eq!(m.max_handling, Duration::from_secs(4));
    assert_eq!(m.total_handling, Duration::from_secs(6));
    assert_eq!(
        m.mean_handling(),
        Some(Duration::from_secs(6) / m.handled as u32)
    );
    assert_eq!(m.high_water_mark, 5);
    assert_eq!((m.restarts, m.panics, m.incarnation), (1, 1, 2));
    assert!(m.type_name.ends_with("Napper"));
    assert_eq!(m.enqueued, 2 + 4 + 1 + 2);

    // An ended actor leaves the table.
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
    assert!(metrics.snapshot(actor.id()).is_none());
}

/// Drops by a full `DropNewest` mailbox are counted.
async fn drops_are_counted<E: Executor>(exec: E) {
    let metrics = Metrics::new();
    let system = System::new(exec.clone()).with_observer(metrics.clone());
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<DropNewest>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 0..4 {
        actor.tell(Msg::Item(n)).await.expect("queued or dropped");
    }
    let m = metrics.snapshot(actor.id()).expect("observed");
    assert_eq!((m.dropped, m.queue_depth, m.high_water_mark), (3, 1, 1));
    gate.open();
}

/// A full `DropOldest` mailbox takes each new message, pushing out the oldest: every one is
/// counted as enqueued, beside the drop it caused.
async fn drop_oldest_counts_what_it_takes<E: Executor>(exec: E) {
    let metrics = Metrics::new();
    let system = System::new(exec.clone()).with_observer(metrics.clone());
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<DropOldest>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    let before = metrics.snapshot(actor.id()).expect("observed").enqueued;
    for n in 0..5 {
        actor.tell(Msg::Item(n)).await.expect("queued");
    }
    let m = metrics.snapshot(actor.id()).expect("observed");
    assert_eq!(m.enqueued - before, 5, "each message was taken");
    assert_eq!((m.dropped, m.queue_depth, m.high_water_mark), (3, 2, 2));
    gate.open();

    // Under levels, a new message less urgent than everything waiting is the one dropped: not
    // enqueued.
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<Prioritized<DropOldest, 2>>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    let before = metrics.snapshot(actor.id()).expect("observed").enqueued;
    for n in 0..2 {
        actor.tell_at(1, Msg::Item(n)).await.expect("room");
    }
    actor.tell_at(0, Msg::Item(9)).await.expect("dropped");
    let m = metrics.snapshot(actor.id()).expect("observed");
    assert_eq!((m.enqueued - before, m.dropped), (2, 1));
    gate.open();
}

/// A supervisor's subtree: the workers of a nested supervisor are found under it, and the
/// total sums every actor's figures.
async fn a_subtree_is_summed<E: Executor>(exec: E) {
    let metrics = Metrics::new();
    let system = System::new(exec.clone()).with_observer(metrics.clone());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(ChildSpec::new("a", || Napper))
        .child(ChildSpec::supervisor("inner", || {
            SupervisorSpec::new(Strategy::OneForOne)
                .intensity(5, Duration::from_secs(60))
                .child(ChildSpec::new("b", || Napper))
                .child(ChildSpec::new("c", || Napper))
        }));
    let top = within(&exec, LONG, spec.start(&system))
        .await
        .expect("started");
    let a = within(&exec, LONG, top.child::<Napper, Bounded>("a"))
        .await
        .unwrap();
    let nested = within(&exec, LONG, top.child_supervisor("inner"))
        .await
        .unwrap();
    let b = within(&exec, LONG, nested.child::<Napper, Bounded>("b"))
        .await
        .unwrap();
    let c = within(&exec, LONG, nested.child::<Napper, Bounded>("c"))
        .await
        .unwrap();
    b.tell(NMsg::Boom).await.expect("queued");
    for actor in [&a, &b, &c] {
        settle(&exec, actor).await;
    }

    let tree = within(&exec, LONG, top.metrics(&metrics))
        .await
        .expect("the subtree");
    let ids: Vec<&str> = tree.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["inner", "a"], "newest first");
    let inner_tree = tree.children[0].subtree.as_ref().expect("nested");
    let b_metrics = inner_tree
        .children
        .iter()
        .find(|c| c.id.as_str() == "b")
        .and_then(|c| c.metrics.clone())
        .expect("b's figures");
    assert_eq!(b_metrics.restarts, 1);
    assert_eq!(b_metrics.name.as_deref(), Some("b"));
    // The total is the sum of what the walk read (the supervisors handle the walk's own
    // calls meanwhile, so later snapshots differ).
    let total = tree.total();
    let handled =
        |m: &Option<playhouse::observer::ActorMetrics>| m.as_ref().map_or(0, |m| m.handled);
    let workers: u64 = inner_tree
        .children
        .iter()
        .chain(tree.children.iter().filter(|c| c.id.as_str() == "a"))
        .map(|c| handled(&c.metrics))
        .sum();
    assert!(workers >= 3, "each worker handled its settling ping");
    let supervisors = handled(&tree.supervisor) + handled(&inner_tree.supervisor);
    assert!(supervisors > 0, "the supervisors handle their API calls");
    assert_eq!(total.handled, workers + supervisors);
    assert_eq!(total.restarts, 1);
    assert_eq!(total.panics, 1);
    top.stop();
    within(&exec, LONG, top.wait()).await;
}

/// Restarts a `Napper` with its queue discarded.
/// Messages that leave the mailbox unhandled (discarded by a restart, expired, or the one a
/// handler panicked on) leave the depth an idle actor shows at what is still waiting. (It stayed what the last send or
/// handled message told: the discarded or expired messages showed as waiting for good.)
async fn the_depth_follows_messages_discarded_or_expired<E: Executor>(exec: E) {
    use playhouse::mailbox::Expiring;
    let vt = VirtualTime::new(exec.clone());
    let metrics = Metrics::new();
    let system = System::new(vt.clone()).with_observer(metrics.clone());

    // Discarded: a nap holds the actor while a panic and three naps queue behind it.
    let drained = system
        .spawner(Bounded::<Block>::default())
        .spawn_supervised(Napper, Drains(|| Napper));
    drained
        .tell(NMsg::Nap(Duration::from_secs(1)))
        .await
        .expect("queued");
    eventually(&exec, "the nap", || vt.sleeping() == 1).await;
    drained.tell(NMsg::Boom).await.expect("queued");
    for _ in 0..3 {
        drained
            .tell(NMsg::Nap(Duration::from_secs(1)))
            .await
            .expect("queued");
    }
    assert_eq!(
        metrics
            .snapshot(drained.id())
            .expect("observed")
            .queue_depth,
        4
    );
    vt.advance(Duration::from_secs(1));
    eventually(&exec, "the queue discarded", || {
        drained.discarded_count() == 3
    })
    .await;
    eventually(&exec, "the depth told", || {
        metrics
            .snapshot(drained.id())
            .expect("observed")
            .queue_depth
            == 0
    })
    .await;
    assert_eq!(drained.mailbox_len(), 0);

    // Expired: a nap holds the actor while three messages with a deadline queue behind it.
    let expiring = system
        .spawner(Bounded::<Expiring<Block>>::default())
        .spawn(Napper);
    expiring
        .tell(NMsg::Nap(Duration::from_secs(1)))
        .await
        .expect("queued");
    eventually(&exec, "the nap", || vt.sleeping() == 1).await;
    for _ in 0..3 {
        let by = vt.now() + Duration::from_millis(500);
        expiring
            .tell_by(NMsg::Nap(Duration::ZERO), by)
            .await
            .expect("queued");
    }
    assert_eq!(
        metrics
            .snapshot(expiring.id())
            .expect("observed")
            .queue_depth,
        3
    );
    vt.advance(Duration::from_secs(1));
    eventually(&exec, "the messages expired", || {
        expiring.expired_count() == 3
    })
    .await;
    eventually(&exec, "the depth told", || {
        metrics
            .snapshot(expiring.id())
            .expect("observed")
            .queue_depth
            == 0
    })
    .await;

    // Restarted after a panic: the message its handler panicked on left without a `Handled`.
    let restarted = system.spawn_restartable(Napper, |_: &ExitReason| Some(Napper));
    restarted.tell(NMsg::Boom).await.expect("queued");
    eventually(&exec, "the restart", || {
        metrics
            .snapshot(restarted.id())
            .is_some_and(|m| m.restarts == 1)
    })
    .await;
    eventually(&exec, "the depth told", || {
        metrics
            .snapshot(restarted.id())
            .expect("observed")
            .queue_depth
            == 0
    })
    .await;
}

executor_tests!(
    one_actors_figures,
    drops_are_counted,
    drop_oldest_counts_what_it_takes,
    a_subtree_is_summed,
    the_depth_follows_messages_discarded_or_expired
);
