//! Sharded keyed actors under supervision (`ShardedSpec::supervise` with
//! `playhouse-supervisor`'s `KeyedSupervision`), and a crash without it: a restart reloads
//! what the key saved, on the node holding its lease, and fences the crashed actor's state
//! handle; a key past its restart intensity, or crashed unsupervised, gives its lease back and
//! is activated anew by its next message, which is not refused.

mod keyed_common;

use std::time::Duration;

use keyed_common::*;
use playhouse_core::{Executor, MessageBroker};
use playhouse_executors::{SmolExecutor, StdExecutor, TokioExecutor};
use playhouse_nats::testing::TestServer;
use playhouse_nats::{NatsBroker, StateError};
use playhouse_supervisor::{Backoff, KeyedSupervision, OnRestart, RestartType};

/// A node serving `accounts` with each activation supervised: transient, at most
/// `max_restarts` restarts a minute.
async fn supervised_node<E: Executor>(
    server: &TestServer,
    name: &str,
    seen: &Activations,
    executor: E,
    max_restarts: u32,
) -> (NatsBroker, Accounts) {
    node_with(server, name, seen, executor, |spec| {
        spec.supervise(
            KeyedSupervision::new(RestartType::Transient)
                .intensity(max_restarts, Duration::from_secs(60)),
        )
    })
    .await
}

/// Tells `key`'s account to crash, once the message is in its mailbox.
async fn crash(broker: &NatsBroker, key: &str) {
    broker
        .sharded_ref::<Crash>("accounts")
        .tell(key, Crash, WAIT)
        .await
        .unwrap_or_else(|e| panic!("crash {key}: {e}"));
}

/// The state handle the last activation (or restart) of `key` was given.
fn state_of(seen: &Activations, key: &str) -> playhouse_nats::KeyState {
    seen.states.lock().unwrap()[key].clone()
}

async fn a_crashed_key_restarts_on_its_node_from_what_it_saved<E: Executor>(executor: E) {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = supervised_node(&server, "a", &seen, executor, 3).await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "alice", 30).await, Ok(30));
    let crashed = state_of(&seen, "alice");
    crash(&c, "alice").await;
    // Queued behind the crash or sent after it: the restarted actor handles it, with the 30
    // it reloaded.
    assert_eq!(deposit(&c, "alice", 5).await, Ok(35));

    let stats = on_a.stats();
    assert_eq!(stats.restarts, 1, "{stats:?}");
    assert_eq!(
        stats.activations, 1,
        "a restart is not a new activation: {stats:?}"
    );
    assert_eq!(stats.passivations, 0, "{stats:?}");
    assert_eq!(
        seen.nodes_of("alice"),
        vec!["a".to_owned(), "a".to_owned()],
        "the factory ran for the activation and for the restart, on the lease holder"
    );
    assert!(on_a.is_active("alice"));
    // The crashed incarnation's handle is fenced: the restart reopened the state.
    match crashed.save(&Stored::default()).await {
        Err(StateError::Fenced { .. }) => {}
        other => panic!("the crashed actor's state handle still writes: {other:?}"),
    }
    assert_eq!(get(&c, "alice").await.balance, 35);
}

#[tokio::test]
async fn a_crashed_key_restarts_on_its_node_from_what_it_saved_on_tokio() {
    a_crashed_key_restarts_on_its_node_from_what_it_saved(TokioExecutor::current()).await;
}

#[tokio::test]
async fn a_crashed_key_restarts_on_its_node_from_what_it_saved_on_smol() {
    a_crashed_key_restarts_on_its_node_from_what_it_saved(SmolExecutor::global()).await;
}

#[tokio::test]
async fn a_crashed_key_restarts_on_its_node_from_what_it_saved_on_the_std_executor() {
    let executor = StdExecutor::with_threads(2).expect("threads");
    a_crashed_key_restarts_on_its_node_from_what_it_saved(executor).await;
}

#[tokio::test]
async fn a_key_past_its_restart_intensity_gives_its_lease_back_and_comes_back_on_its_next_message()
{
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = supervised_node(&server, "a", &seen, TokioExecutor::current(), 1).await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "alice", 30).await, Ok(30));
    crash(&c, "alice").await;
    assert_eq!(deposit(&c, "alice", 1).await, Ok(31), "restarted once");
    crash(&c, "alice").await;
    // One restart past the intensity: the activation ends, and its lease goes back.
    eventually("the activation ends", async || !on_a.is_active("alice")).await;
    let stats = on_a.stats();
    assert_eq!((stats.restarts, stats.passivations), (1, 1), "{stats:?}");

    // The next message activates the key anew, from what it saved.
    assert_eq!(deposit(&c, "alice", 1).await, Ok(32));
    let stats = on_a.stats();
    assert_eq!((stats.activations, stats.restarts), (2, 1), "{stats:?}");
    assert_eq!(seen.count("alice"), 3, "activation, restart, activation");
}

#[tokio::test]
async fn an_unsupervised_crash_gives_the_lease_back_and_the_next_message_is_handled() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "bob", 10).await, Ok(10));
    crash(&c, "bob").await;
    eventually("the crashed activation ends", async || {
        !on_a.is_active("bob")
    })
    .await;
    assert_eq!(on_a.stats().passivations, 1);
    assert_eq!(deposit(&c, "bob", 1).await, Ok(11));
    assert_eq!(on_a.stats().activations, 2);
    assert_eq!(on_a.stats().restarts, 0);
}

#[tokio::test]
async fn a_supervision_maker_that_panics_fails_the_activation_with_a_typed_refusal() {
    use playhouse_broker::keyed::{Reactivation, SupervisionMaker};

    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node_with(&server, "a", &seen, TokioExecutor::current(), |spec| {
        spec.supervise(|activation: Reactivation<String, Account>| {
            assert_ne!(activation.key(), "cursed", "no supervision for this key");
            KeyedSupervision::new(RestartType::Transient).make(activation)
        })
    })
    .await;
    let c = client(&server, "c").await;

    let cause = activation_failure(&c, "cursed").await;
    assert!(cause.contains("supervision maker panicked"), "{cause}");
    assert!(cause.contains("no supervision for this key"), "{cause}");
    assert!(!on_a.is_active("cursed"));
    assert_eq!(on_a.stats().activation_failures, 1);
    // The node goes on serving, and the lease was given back: another node could take it.
    assert_eq!(deposit(&c, "blessed", 5).await, Ok(5));
    let (_b, on_b) = node(&server, "b", &seen).await;
    on_a.stop(WAIT).await;
    assert_eq!(deposit(&c, "cursed", 5).await, Ok(5));
    assert!(on_b.is_active("cursed"));
}

#[tokio::test]
async fn a_key_waiting_for_its_restart_with_messages_queued_is_not_passivated_as_idle() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    // The idle time leaves room for the crash's panic report (on this test's thread) before
    // the deposit below is queued; the backoff outlasts it.
    let wait = Duration::from_secs(4);
    let (_a, on_a) = node_with(&server, "a", &seen, TokioExecutor::current(), |spec| {
        spec.passivate_after(Duration::from_millis(1500)).supervise(
            KeyedSupervision::new(RestartType::Transient).backoff(Backoff {
                initial: wait,
                max: wait,
                jitter: 0.0,
            }),
        )
    })
    .await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "alice", 30).await, Ok(30));
    crash(&c, "alice").await;
    // Queued while the restart waits for its backoff, past the idle time: handled by the
    // restarted actor, not discarded by a passivation.
    assert_eq!(deposit(&c, "alice", 5).await, Ok(35));
    let stats = on_a.stats();
    assert_eq!((stats.restarts, stats.passivations), (1, 0), "{stats:?}");
    // Idle with nothing queued, it is passivated.
    eventually("passivated once idle", async || !on_a.is_active("alice")).await;
}

#[tokio::test]
async fn a_passivation_during_a_restart_ends_the_activation_at_once_discarding_its_queue() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node_with(&server, "a", &seen, TokioExecutor::current(), |spec| {
        spec.supervise(
            KeyedSupervision::new(RestartType::Transient).backoff(Backoff {
                initial: Duration::from_secs(3600),
                max: Duration::from_secs(3600),
                jitter: 0.0,
            }),
        )
    })
    .await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "alice", 30).await, Ok(30));
    crash(&c, "alice").await;
    // Queued (the tell returns once it is in the mailbox) for a restart an hour away.
    c.sharded_ref::<Push>("accounts")
        .tell("alice", Push(7), WAIT)
        .await
        .expect("queued");
    // Not held up by the backoff: the activation ends at once, as a stop of any supervised
    // actor between incarnations does, and what was queued goes with it.
    assert!(on_a.passivate("alice").await);
    assert!(!on_a.is_active("alice"));
    assert_eq!(on_a.stats().restarts, 0);
    // The next message activates the key anew, from what it saved.
    let now = get(&c, "alice").await;
    assert_eq!((now.balance, now.log), (30, Vec::new()));
    assert_eq!(on_a.stats().activations, 2);
}

#[tokio::test]
async fn a_restart_whose_factory_fails_or_panics_ends_the_activation_and_the_key_refuses_with_why()
{
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = supervised_node(&server, "a", &seen, TokioExecutor::current(), 3).await;
    let c = client(&server, "c").await;

    for (key, why) in [("once", "closed for good"), ("once_panics", "is corrupt")] {
        assert_eq!(deposit(&c, key, 10).await, Ok(10));
        crash(&c, key).await;
        // The restart's factory fails: the activation ends, and its lease goes back.
        eventually("the activation ends", async || !on_a.is_active(key)).await;
        // The next message activates the key anew, and its failure reaches the sender.
        let cause = activation_failure(&c, key).await;
        assert!(cause.contains(why), "{key}: {cause}");
        assert!(!on_a.is_active(key));
    }
    let stats = on_a.stats();
    assert_eq!(stats.restarts, 0, "{stats:?}");
    assert_eq!(stats.activation_failures, 2, "{stats:?}");
}

/// Queues, on `key`'s activation on `c`'s group, a [`Wait`] (which holds the actor until
/// `seen.open`), a [`Crash`] and then `pushes` plain tells, each in the mailbox before the next
/// is sent; then lets the actor go on, so that it crashes with the pushes queued behind.
async fn crash_with_a_backlog(c: &NatsBroker, seen: &Activations, key: &str, pushes: u32) {
    c.sharded_ref::<Wait>("accounts")
        .tell(key, Wait, WAIT)
        .await
        .unwrap();
    crash(c, key).await;
    for n in 0..pushes {
        c.sharded_ref::<Push>("accounts")
            .tell(key, Push(n), WAIT)
            .await
            .unwrap();
    }
    seen.open.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// What an activation discards unhandled is counted on its node as dead letters under
/// `group/key`, as an in-memory keyed set does: the backlog of an unsupervised crash as
/// `ActorGone`, what a draining restart discards as `Drained` (and not again as `ActorGone`
/// when the activation later ends).
#[tokio::test]
async fn what_a_crash_discards_is_counted_as_dead_letters_on_the_activations_node() {
    let server = TestServer::start().expect("nats-server");

    let seen = Activations::default();
    let (a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;
    assert_eq!(deposit(&c, "bob", 10).await, Ok(10));
    crash_with_a_backlog(&c, &seen, "bob", 2).await;
    eventually("the crashed activation ends", async || {
        !on_a.is_active("bob")
    })
    .await;
    eventually("its backlog is counted", async || {
        a.dead_letters().actor_gone == 2
    })
    .await;
    let letters = a.dead_letters();
    assert_eq!((letters.drained, letters.total()), (0, 2), "{letters:?}");
    assert_eq!(c.dead_letters().total(), 0, "the sender's node counts none");

    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (b, on_b) = node_with(&server, "b", &seen, TokioExecutor::current(), |spec| {
        spec.supervise(
            KeyedSupervision::new(RestartType::Transient).on_restart(OnRestart::DrainQueue),
        )
    })
    .await;
    let c = client(&server, "c").await;
    assert_eq!(deposit(&c, "carol", 10).await, Ok(10));
    crash_with_a_backlog(&c, &seen, "carol", 3).await;
    eventually("the drained restart is counted", async || {
        b.dead_letters().drained == 3
    })
    .await;
    assert_eq!(deposit(&c, "carol", 1).await, Ok(11), "restarted");
    assert!(on_b.passivate("carol").await);
    let letters = b.dead_letters();
    assert_eq!(letters.total(), 3, "{letters:?}");
}
