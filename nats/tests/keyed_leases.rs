//! Keyed actors sharded across nodes, several nodes in one process (each its own broker and
//! node name): activation, the creation race, passivation, and fencing when a lease lapses.

mod keyed_common;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use keyed_common::*;
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{
    ExportError, LeaveReason, MemberEvent, NatsBroker, Rejection, RemoteError, StateError,
};

#[tokio::test]
async fn activation_on_first_message_gives_the_factory_the_key() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let (_b, on_b) = node(&server, "b", &seen).await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "alice", 30).await, Ok(30));
    assert_eq!(seen.count("alice"), 1);
    let owner = get(&c, "alice").await.node;
    assert_eq!(seen.nodes_of("alice"), vec![owner.clone()]);
    assert_eq!(
        c.sharded_ref::<Get>("accounts").owner_of("alice"),
        None,
        "each reference learns owners by itself"
    );

    // Different keys, concurrently: each activated once, on one node or the other.
    let keys: Vec<String> = (0..24).map(|i| format!("k{i}")).collect();
    let asks = keys.iter().map(|key| {
        let c = c.clone();
        let key = key.clone();
        async move { deposit(&c, &key, 1).await }
    });
    for answer in futures::future::join_all(asks).await {
        assert_eq!(answer, Ok(1));
    }
    for key in &keys {
        assert_eq!(seen.count(key), 1, "{key} activated once");
    }
    let on_a_keys: BTreeSet<String> = on_a.active_keys().into_iter().collect();
    let on_b_keys: BTreeSet<String> = on_b.active_keys().into_iter().collect();
    assert!(on_a_keys.is_disjoint(&on_b_keys));
    assert_eq!(on_a_keys.len() + on_b_keys.len(), keys.len() + 1);
    assert!(
        !on_a_keys.is_empty() && !on_b_keys.is_empty(),
        "the keys spread over both nodes: a {on_a_keys:?}, b {on_b_keys:?}"
    );

    // One key's messages, in order, from a sender that awaits each.
    let push = c.sharded_ref::<Push>("accounts");
    for i in 0..100 {
        push.tell("ordered", Push(i), WAIT).await.expect("taken");
    }
    assert_eq!(get(&c, "ordered").await.log, (0..100).collect::<Vec<_>>());

    // A factory failure reaches the sender as a typed refusal, with its message back.
    let cause = activation_failure(&c, "broken").await;
    assert!(cause.contains("no such account"), "{cause}");
    // A key that cannot be a subject token is refused before anything is sent.
    let err = c
        .sharded_ref::<Get>("accounts")
        .ask::<Seen>("a.b", Get, WAIT)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RemoteError::Rejected {
            reason: Rejection::InvalidKey { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn two_nodes_racing_for_a_key_make_one_activation() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, on_a) = node(&server, "a", &seen).await;
    let (b, on_b) = node(&server, "b", &seen).await;

    for round in 0..5 {
        let key = format!("race{round}");
        // Both nodes send the key's first messages at once, each through its own subjects.
        let asks = (0..16).map(|i| {
            let from = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            async move { deposit(&from, &key, 1).await }
        });
        let answers = futures::future::join_all(asks).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(seen.count(&key), 1, "one activation of {key}");
        assert!(seen.overlaps.lock().unwrap().is_empty());
        assert_eq!(
            u8::from(on_a.is_active(&key)) + u8::from(on_b.is_active(&key)),
            1,
            "one instance of {key}"
        );
        assert_eq!(get(&a, &key).await.balance, 16, "no deposit lost");
    }
}

#[tokio::test]
async fn passivation_when_idle_and_on_demand_reloads_through_the_factory() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (broker, accounts) = node_with(&server, "a", &seen, TokioExecutor::current(), |spec| {
        spec.passivate_after(Duration::from_millis(300))
    })
    .await;

    assert_eq!(deposit(&broker, "idle", 5).await, Ok(5));
    assert!(accounts.is_active("idle"));
    eventually("idle passivates", async || !accounts.is_active("idle")).await;
    assert_eq!(get(&broker, "idle").await.balance, 5, "reloaded");
    assert_eq!(seen.count("idle"), 2);

    // On demand, with tells racing the passivation: none is lost, order is kept.
    let push = broker.sharded_ref::<Push>("accounts");
    for i in 0..20 {
        push.tell("busy", Push(i), WAIT).await.expect("taken");
    }
    let sender = {
        let push = push.clone();
        tokio::spawn(async move {
            for i in 20..200 {
                push.tell("busy", Push(i), WAIT).await.expect("taken");
            }
        })
    };
    let mut passivated = 0;
    while !sender.is_finished() {
        if accounts.passivate("busy").await {
            passivated += 1;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    sender.await.unwrap();
    assert!(passivated > 0, "the passivations raced the tells");
    assert_eq!(get(&broker, "busy").await.log, (0..200).collect::<Vec<_>>());
    assert_eq!(seen.count("busy"), passivated + 1);
    assert!(!accounts.passivate("never-seen").await);
}

#[tokio::test]
async fn a_sharded_ask_waiting_when_its_node_leaves_ends_at_once() {
    let server = TestServer::start().expect("nats-server");
    // Something takes the group's messages and never answers.
    let raw = server.connect().await.expect("a raw client");
    let mut silent = raw
        .subscribe("playhouse.keyed.silent.c.k")
        .await
        .expect("subscribes");
    raw.flush().await.expect("flushed");
    let me = client(&server, "c").await;
    let asker = me.clone();
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let answer = asker
            .sharded_ref::<Get>("silent")
            .ask::<Seen>("k", Get, WAIT)
            .await;
        (answer, started.elapsed())
    });
    tokio::time::timeout(WAIT, silent.next())
        .await
        .expect("the ask arrived");
    me.leave().await;
    let (answer, waited) = waiting.await.expect("the asking task");
    assert!(
        matches!(answer, Err(RemoteError::InboxClosed)),
        "{answer:?}"
    );
    assert!(waited < WAIT, "ended by the leave, not by its timeout");
}

#[tokio::test]
async fn a_node_serves_one_group_of_a_name_at_a_time() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (broker, accounts) = node(&server, "a", &seen).await;
    let system = playhouse_core::System::with_broker(TokioExecutor::current(), broker.clone());
    // A second copy would take the first one's leases away, key after key.
    match spec(&broker, &seen).start(&system).await {
        Err(ExportError::NameTaken { name, owner }) => {
            assert_eq!((name.as_str(), owner.as_str()), ("accounts", "a"));
        }
        other => panic!("expected NameTaken, got {:?}", other.map(|_| ())),
    }
    assert_eq!(deposit(&broker, "k", 5).await, Ok(5));
    // Once the first has stopped, the group can be served again.
    accounts.stop(WAIT).await;
    let again = spec(&broker, &seen)
        .start(&system)
        .await
        .expect("served again");
    assert_eq!(deposit(&broker, "k", 1).await, Ok(6));
    again.stop(WAIT).await;
    broker.leave().await;
}

/// A group's name and the prefix name its JetStream streams, which take 255 bytes: past 245
/// bytes together the start is refused with `NameTooLong` before JetStream is asked (which
/// refused the stream after 2 s of retries, in an error that blamed JetStream); at 245 it
/// starts.
#[tokio::test]
async fn a_group_name_too_long_beside_the_prefix_is_refused_at_once() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let group = "g".repeat(128);
    for (prefix_len, fits) in [(117, true), (118, false)] {
        let prefix = "p".repeat(prefix_len);
        let broker = NatsBroker::connect(config(&server, "a").prefix(prefix.as_str()))
            .await
            .expect("connects");
        let system = playhouse_core::System::with_broker(TokioExecutor::current(), broker.clone());
        match spec_named(&broker, &seen, &group).start(&system).await {
            Ok(sharded) => {
                assert!(fits, "{prefix_len} + 128 bytes started");
                sharded.stop(WAIT).await;
            }
            Err(ExportError::NameTooLong {
                name,
                prefix: named,
                limit,
            }) => {
                assert!(!fits, "{prefix_len} + 128 bytes refused");
                assert_eq!((name, named, limit), (group.clone(), prefix.clone(), 245));
            }
            Err(other) => panic!("{prefix_len} + 128 bytes: {other}"),
        }
        broker.leave().await;
    }
}

#[tokio::test]
async fn a_state_over_the_size_limit_is_refused_and_the_connection_stays() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let broker = playhouse_nats::NatsBroker::connect(config(&server, "a").max_message_size(300))
        .await
        .expect("connects");
    let system = playhouse_core::System::with_broker(TokioExecutor::current(), broker.clone());
    let _accounts = spec(&broker, &seen).start(&system).await.expect("serves");
    let c = client(&server, "c").await;
    // The log grows as long as its state fits; a push whose save does not fails its handler.
    let push = c.sharded_ref::<Push>("accounts");
    for n in 0..200 {
        push.tell("big", Push(n), WAIT).await.expect("queued");
    }
    let log = get(&c, "big").await.log;
    assert!(!log.is_empty() && log.len() < 200, "{}", log.len());
    // A balance of 2^60 takes 8 more bytes than 0: the state no longer fits.
    let refused = deposit(&c, "big", 1 << 60).await.unwrap_err();
    assert!(refused.contains("too large to save"), "{refused}");
    assert!(refused.contains("300-byte limit"), "{refused}");
    // The node's connection is whole: its keys go on.
    assert_eq!(deposit(&c, "big", 1).await, Ok(1));
    assert_eq!(deposit(&c, "other", 5).await, Ok(5));
    assert_eq!(get(&c, "big").await.log, log, "nothing refused was written");
}

#[tokio::test]
async fn duration_max_means_no_limit() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (broker, accounts) = node_with(&server, "a", &seen, TokioExecutor::current(), |spec| {
        spec.passivate_after(Duration::MAX)
    })
    .await;
    let deposits = broker.sharded_ref::<Deposit>("accounts");
    let answer = deposits
        .ask::<Result<i64, String>>("k", Deposit(5), Duration::MAX)
        .await
        .expect("answered");
    assert_eq!(answer, Ok(5));
    broker
        .sharded_ref::<Push>("accounts")
        .tell("k", Push(1), Duration::MAX)
        .await
        .expect("taken");
    // An idle time of `Duration::MAX` never passivates (nor breaks the key's worker).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(accounts.is_active("k"));
    assert_eq!(get(&broker, "k").await.log, [1]);
    assert_eq!(seen.count("k"), 1);
    tokio::time::timeout(WAIT, accounts.stop(Duration::MAX))
        .await
        .expect("the stop ends when the group has stopped");
    assert!(!accounts.is_active("k"));
    broker.leave().await;
}

#[tokio::test]
async fn a_node_that_left_stops_before_another_takes_over_and_its_writes_are_refused() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, on_a) = node(&server, "a", &seen).await;
    let (b, on_b) = node(&server, "b", &seen).await;
    let c = client(&server, "c").await;

    assert_eq!(deposit(&c, "lapse", 10).await, Ok(10));
    let first = get(&c, "lapse").await.node;
    let (gone, gone_handle, stays, stays_handle) = if first == "a" {
        (a, on_a, b, on_b)
    } else {
        (b, on_b, a, on_a)
    };
    let stale = seen.states.lock().unwrap()["lapse"].clone();
    assert!(stale.is_owner());

    // Its node leaves: it passivates its keys and gives their leases back before it returns,
    // so that the key comes back elsewhere on its next message, not a lease TTL later.
    gone.leave().await;
    assert!(!gone_handle.is_active("lapse"), "passivated by the leave");
    assert!(!stale.is_owner(), "its lease given back by the leave");
    let after = get(&c, "lapse").await;
    assert_eq!(
        after.node,
        stays.node_name(),
        "the key came back on the other node"
    );
    assert_eq!(after.balance, 10, "its state reloaded through the factory");
    assert!(stays_handle.is_active("lapse"));
    assert_eq!(seen.nodes_of("lapse"), vec![first, after.node.clone()]);
    assert!(seen.overlaps.lock().unwrap().is_empty(), "never two owners");

    // The stale owner's write is refused, and changed nothing.
    assert!(!stale.is_owner());
    let refused = stale
        .save(&Stored {
            balance: 1_000_000,
            log: vec![],
            last: 0,
        })
        .await;
    assert_eq!(
        refused,
        Err(StateError::LeaseLost {
            key: "lapse".into()
        })
    );
    assert_eq!(get(&c, "lapse").await.balance, 10);
}

#[tokio::test]
async fn a_write_after_the_state_moved_is_fenced() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, _on_a) = node(&server, "a", &seen).await;
    assert_eq!(deposit(&a, "moved", 1).await, Ok(1));
    let state = seen.states.lock().unwrap()["moved"].clone();

    // Someone else (a stale owner whose write landed late) writes the state.
    let kv = a
        .jetstream()
        .get_key_value("playhouse_state_accounts")
        .await
        .expect("the group's state bucket");
    kv.put("moved", vec![1u8, 0, 0].into()).await.expect("put");

    let refused = state.save(&Stored::default()).await;
    assert_eq!(
        refused,
        Err(StateError::Fenced {
            key: "moved".into()
        })
    );
    // The activation answers with the error; the next activation loads what is stored.
    assert!(deposit(&a, "moved", 1).await.is_err());
}

#[tokio::test]
async fn when_the_server_is_gone_longer_than_the_ttl_every_owner_stops() {
    let mut server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, on_a) = node(&server, "a", &seen).await;
    assert_eq!(deposit(&a, "cut", 7).await, Ok(7));
    let state = seen.states.lock().unwrap()["cut"].clone();

    // No renewal can reach the server: the lease lapses at its deadline, here.
    server.stop();
    eventually("the lease lapses", async || !state.is_owner()).await;
    eventually("the key is passivated", async || !on_a.is_active("cut")).await;
    assert!(on_a.stats().lapses >= 1);

    server.restart().expect("restarts");
    assert_eq!(get(&a, "cut").await.balance, 7, "reloaded after the lapse");
    assert_eq!(seen.count("cut"), 2);
}

/// A lease's value is its owner's node name alone, which nodes of every version of this crate
/// read: a value that also carried the owner process's token named, to an earlier version, a
/// node that does not exist, and it sent the key's messages to nobody.
#[tokio::test]
async fn a_lease_names_its_owner_node_as_every_version_reads_it() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, _accounts) = node(&server, "a", &seen).await;
    assert_eq!(deposit(&a, "alice", 30).await, Ok(30));
    let raw = server.connect().await.unwrap();
    let leases = async_nats::jetstream::new(raw)
        .get_key_value("playhouse_leases")
        .await
        .unwrap();
    let value = leases.get("accounts.alice").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"a"[..]));
}

/// A `leave` made while another is under way returns once the node has left: its groups stopped
/// and their leases given back, as `leave` says. (It returned at once; a node leaving by itself
/// because another process took its name made that race likely.)
#[tokio::test]
async fn a_second_leave_returns_once_the_node_has_left() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, accounts) = node(&server, "a", &seen).await;
    assert_eq!(deposit(&a, "alice", 1).await, Ok(1));
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.leave().await }
    });
    // The first has begun once the node no longer lists members.
    while !a.members().is_empty() {
        tokio::task::yield_now().await;
    }
    a.leave().await;
    assert!(!accounts.is_active("alice"));
    let raw = server.connect().await.unwrap();
    let leases = async_nats::jetstream::new(raw)
        .get_key_value("playhouse_leases")
        .await
        .unwrap();
    assert_eq!(leases.get("accounts.alice").await.unwrap(), None);
    first.await.unwrap();
}

/// A node whose key takes longer than the node TTL to passivate goes on beating while it
/// leaves: its heartbeat stays fresh until it withdraws it, and the others see it leave, not
/// time out. (Its heartbeats stopped as the leave began: the entry expired while the groups
/// stopped, and the others reported `Left { TimedOut }`, or not, by a race.)
#[tokio::test]
async fn a_node_slow_to_passivate_beats_until_it_has_left() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, accounts) = node(&server, "a", &seen).await;
    let b = client(&server, "b").await;
    let mut events = b.member_events();
    assert_eq!(deposit(&b, "slow", 1).await, Ok(1));
    // In the mailbox when `tell` returns: the passivation waits for it, past the TTL.
    let hold = Hold(2 * TTL.as_millis() as u64);
    b.sharded_ref::<Hold>("accounts")
        .tell("slow", hold, WAIT)
        .await
        .expect("taken");
    assert!(accounts.is_active("slow"));
    let leave = tokio::spawn({
        let a = a.clone();
        async move { a.leave().await }
    });
    tokio::time::sleep(TTL * 9 / 10).await;
    assert!(!leave.is_finished(), "the groups stop for up to the TTL");
    let raw = server.connect().await.unwrap();
    let members = async_nats::jetstream::new(raw)
        .get_key_value("playhouse_members")
        .await
        .unwrap();
    let beat = members.entry("a").await.unwrap().expect("a heartbeat");
    let age = time::OffsetDateTime::now_utc() - beat.created;
    assert!(
        age < TTL * 7 / 10,
        "the leaving node's last heartbeat is {age} old"
    );
    leave.await.unwrap();
    let left = loop {
        match tokio::time::timeout(WAIT, events.next()).await.unwrap() {
            Some(MemberEvent::Left { node, reason }) if node == "a" => break reason,
            Some(_) => {}
            None => panic!("the events ended"),
        }
    };
    assert_eq!(left, LeaveReason::Left);
}

/// An answer given after the node lost the key's lease is withheld (nothing leaves a node for
/// a key it no longer holds), and its asker is told that the request was handled and its
/// answer lost, naming the node and the key: not a bare "no reply".
#[tokio::test]
async fn an_answer_withheld_by_a_lost_lease_is_reported_as_lost() {
    use playhouse_core::observer::EventKind;
    use playhouse_core::testing::RecordingObserver;

    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let recording = RecordingObserver::new();
    let a = NatsBroker::connect(config(&server, "a")).await.expect("a");
    let system = playhouse_core::System::with_broker(TokioExecutor::current(), a.clone())
        .with_observer(recording.clone());
    let on_a = spec(&a, &seen).start(&system).await.expect("serves");
    let b = client(&server, "b").await;
    assert_eq!(deposit(&b, "taken", 1).await, Ok(1));
    // The account waits until the test lets it go on; a `Get` queues behind the wait.
    b.sharded_ref::<Wait>("accounts")
        .tell("taken", Wait, WAIT)
        .await
        .expect("taken");
    let asking = tokio::spawn({
        let gets = b.sharded_ref::<Get>("accounts");
        async move { gets.ask::<Seen>("taken", Get, WAIT).await }
    });
    // The deposit, the wait and the `Get` entered the account's mailbox.
    eventually("the get queued", async || {
        recording.count(EventKind::Enqueued) >= 3
    })
    .await;

    // Another owner's write moves the lease: node a's next renewal fails, and its lease lapses.
    // The activation stops after its queue: the `Get` is handled once the wait ends.
    let raw = server.connect().await.unwrap();
    let leases = async_nats::jetstream::new(raw)
        .get_key_value("playhouse_leases")
        .await
        .expect("the lease bucket");
    leases
        .put("accounts.taken", "elsewhere".into())
        .await
        .expect("put");
    eventually("the lapse", async || on_a.stats().lapses >= 1).await;
    assert!(!asking.is_finished());
    seen.open.store(true, std::sync::atomic::Ordering::SeqCst);

    let answer = tokio::time::timeout(WAIT, asking)
        .await
        .expect("an answer within the wait")
        .unwrap();
    match answer {
        Err(RemoteError::AnswerLost {
            reason: Rejection::AnswerUndeliverable { detail },
        }) => {
            assert!(
                detail.contains("\"a\" lost the lease of key \"taken\""),
                "{detail}"
            );
        }
        other => panic!("expected AnswerLost, got {other:?}"),
    }
}
