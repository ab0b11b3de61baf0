//! Durable messages to keyed actors (JetStream): stored once per id, delivered in order,
//! delivered again until confirmed (across a dropped delivery and an owner that left without
//! confirming), woken by the sweep when nobody was serving, and refused with typed errors.

mod keyed_common;

use std::time::Duration;

use keyed_common::*;
use playhouse_core::{DeadLetterKind, MessageBroker};
use playhouse_nats::testing::TestServer;
use playhouse_nats::{NatsBroker, Redelivery, Rejection, RemoteError};

const STREAM: &str = "playhouse_durable_accounts";

async fn note(broker: &NatsBroker, key: &str, id: &str, n: u32) -> playhouse_nats::Stored {
    broker
        .sharded_ref::<Note>("accounts")
        .tell_durable(key, id, Note(n), WAIT)
        .await
        .unwrap_or_else(|e| panic!("durable note {n} to {key}: {e}"))
}

/// How many messages the group's stream still holds.
async fn stored(broker: &NatsBroker) -> u64 {
    let mut stream = broker.jetstream().get_stream(STREAM).await.expect("stream");
    stream.info().await.expect("info").state.messages
}

fn deliveries_of(seen: &Activations, key: &str, n: u32) -> Vec<Handed> {
    seen.deliveries
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.key == key && h.note == n)
        .cloned()
        .collect()
}

#[tokio::test]
async fn durable_messages_are_stored_once_per_id_and_handled_in_order() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let (_b, on_b) = node(&server, "b", &seen).await;
    let c = client(&server, "c").await;

    let mut sequences = Vec::new();
    for n in 21..=40 {
        let receipt = note(&c, "ordered", &format!("ordered-{n}"), n).await;
        assert!(!receipt.duplicate);
        sequences.push(receipt.sequence);
    }
    assert!(sequences.windows(2).all(|w| w[0] < w[1]));

    // The same id again (a sender retrying after a lost answer): not stored twice.
    let again = note(&c, "ordered", "ordered-25", 25).await;
    assert!(again.duplicate, "the stream knew the id");
    assert_eq!(again.sequence, sequences[4], "the first one's sequence");
    // Ids are the group's, not the key's.
    let elsewhere = note(&c, "elsewhere", "ordered-21", 21).await;
    assert!(elsewhere.duplicate, "an id is unique in the group");
    assert_eq!(elsewhere.sequence, sequences[0]);

    // Only durable traffic so far: the wakes that reached the node without the key were not
    // counted as redirected messages.
    eventually("every note confirmed and out of the stream", async || {
        stored(&c).await == 0
    })
    .await;
    // A confirmation is counted once the stream has answered the owner's acknowledgement,
    // which may be a moment after another client sees the stream empty.
    eventually("every confirmation counted", async || {
        on_a.stats().durable_confirmed + on_b.stats().durable_confirmed == 20
    })
    .await;
    let (sa, sb) = (on_a.stats(), on_b.stats());
    assert_eq!(
        sa.redirected + sb.redirected,
        0,
        "wakes are not redirections"
    );
    assert_eq!(sa.durable_confirmed + sb.durable_confirmed, 20);
    assert_eq!(sa.durable_given_up + sb.durable_given_up, 0);
    assert_eq!(get(&c, "ordered").await.log, (21..=40).collect::<Vec<_>>());
    assert_eq!(seen.count("ordered"), 1, "one activation");
    assert!(seen.skipped.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_note_never_confirmed_is_given_up_as_a_dead_letter_and_the_next_one_goes_on() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let a = client(&server, "a").await;
    let system = playhouse_core::System::with_broker(
        playhouse_executors::TokioExecutor::current(),
        a.clone(),
    );
    let redelivery = Redelivery {
        pause: Duration::from_millis(10),
        max_pause: Duration::from_millis(50),
        max_deliveries: 3,
    };
    let accounts = spec(&a, &seen)
        .redelivery(redelivery)
        .start(&system)
        .await
        .expect("serves");
    let c = client(&server, "c").await;

    note(&c, "poison", "poison-1", NEVER).await;
    note(&c, "poison", "poison-2", 2).await;
    eventually("the next note applied", async || {
        get(&c, "poison").await.log == vec![2]
    })
    .await;
    let handed = deliveries_of(&seen, "poison", NEVER);
    assert_eq!(
        handed.iter().map(|h| h.deliveries).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "delivered max_deliveries times, then given up"
    );
    assert_eq!(a.dead_letters().get(DeadLetterKind::Rejected), 1);
    assert_eq!(accounts.stats().durable_given_up, 1);
    // The next note's confirmation is counted once the stream has answered it, which may be a
    // moment after its effect is seen.
    eventually("the next note's confirmation counted", async || {
        accounts.stats().durable_confirmed == 1
    })
    .await;
    eventually("out of the stream", async || stored(&c).await == 0).await;
    assert_eq!(redelivery.pause_after(2), Duration::from_millis(20));
    assert_eq!(redelivery.pause_after(9), Duration::from_millis(50));
}

/// A durable message that the key's full `Reject` mailbox refuses never reached the actor: it
/// is offered again once there is room, without counting as a delivery. (Each refusal counted
/// as one: with the mailbox full for long, the message became a dead letter that the actor
/// never saw.) The pause asked for is half the lease TTL, and the mailbox stays full past
/// several of them: the stream, told the work goes on before and after each pause, never hands
/// the message out again meanwhile (a silence of a pause and then half a TTL, before the
/// delivery that got in said its first word, let its wait run out).
#[tokio::test]
async fn a_note_a_full_reject_mailbox_refuses_waits_for_room_without_counting() {
    use playhouse_core::mailbox::{Bounded, Reject};
    held_back_by_a_full_mailbox(Bounded::<Reject>::with_capacity(1).unwrap(), "refused").await;
}

/// A durable message that waits for room in the key's full `Block` mailbox (the default), then
/// behind what is queued, is not handed out again meanwhile: the stream is told the work goes
/// on. (It was told nothing while the tell waited: after its wait the stream delivered the
/// message again, which was then given up as a dead letter though the actor handled it, or
/// handed to the actor twice.)
#[tokio::test]
async fn a_note_waiting_for_room_in_a_full_block_mailbox_is_not_handed_out_again() {
    use playhouse_core::mailbox::{Block, Bounded};
    held_back_by_a_full_mailbox(Bounded::<Block>::with_capacity(1).unwrap(), "waiting").await;
}

/// A note to `key`, whose one-place `mailbox` is full for 900 ms and whose handler is then
/// busy for 2.5 s more (two lease TTLs and more): handled once, as its first delivery, and
/// confirmed, with a redelivery pause of half the lease TTL and one delivery allowed.
async fn held_back_by_a_full_mailbox<MB: playhouse_core::mailbox::Mailbox>(mailbox: MB, key: &str) {
    use std::sync::atomic::Ordering;
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let a = client(&server, "a").await;
    let system = playhouse_core::System::with_broker(
        playhouse_executors::TokioExecutor::current(),
        a.clone(),
    );
    // One delivery only: a second would give the note up.
    let redelivery = Redelivery {
        pause: TTL / 2,
        max_pause: TTL / 2,
        max_deliveries: 1,
    };
    let accounts = spec(&a, &seen)
        .mailbox(mailbox)
        .redelivery(redelivery)
        .start(&system)
        .await
        .expect("serves");
    let c = client(&server, "c").await;
    assert_eq!(deposit(&c, key, 1).await, Ok(1));

    // The handler holds the first hold, the mailbox (one place) the second: the note finds it
    // full for 900 ms, then waits behind the second hold for 2.5 s.
    let holds = c.sharded_ref::<Hold>("accounts");
    holds.tell(key, Hold(900), WAIT).await.expect("taken");
    eventually("the first hold begun", async || {
        seen.holds.load(Ordering::SeqCst) == 1
    })
    .await;
    holds.tell(key, Hold(2500), WAIT).await.expect("queued");
    note(&c, key, &format!("{key}-1"), 5).await;
    eventually(
        "the note handled, confirmed and out of the stream",
        async || accounts.stats().durable_confirmed == 1 && stored(&c).await == 0,
    )
    .await;
    assert_eq!(
        seen.holds.load(Ordering::SeqCst),
        2,
        "{key}: both holds ran"
    );
    let handed = deliveries_of(&seen, key, 5);
    assert_eq!(
        handed.iter().map(|h| h.deliveries).collect::<Vec<_>>(),
        vec![1],
        "{key}: handed to the actor once, as its first delivery"
    );
    assert_eq!(accounts.stats().durable_given_up, 0, "{key}");
    assert_eq!(a.dead_letters().get(DeadLetterKind::Rejected), 0, "{key}");
}

/// A durable message as large as the sender's limit allows.
#[derive(serde::Serialize, serde::Deserialize)]
struct Blob(Vec<u8>);

#[tokio::test]
async fn a_durable_message_is_held_to_the_limit_with_its_id_header() {
    let server = TestServer::start().expect("nats-server");
    let small = NatsBroker::connect(config(&server, "small").max_message_size(4096))
        .await
        .expect("connects");
    let blobs = small.sharded_ref::<Blob>("accounts");
    // The envelope alone fits (4,000 bytes and a few), with the `Nats-Msg-Id` header it does
    // not: the server would count both, and close the connection of a sender that went over.
    let id = "i".repeat(100);
    match blobs
        .tell_durable("k", &id, Blob(vec![0; 4000]), WAIT)
        .await
    {
        Err(RemoteError::TooLarge { size, limit, msg }) => {
            assert_eq!(limit, 4096);
            // The envelope (4 bytes, the tag's length and the tag, the body: a 2-byte length
            // and 4,000 bytes), then `NATS/1.0\r\n`, `Nats-Msg-Id: <id>\r\n` and `\r\n`.
            let tag = std::any::type_name::<Blob>().len();
            let envelope = 4 + 1 + tag + 2 + 4000;
            assert_eq!(size, envelope + 10 + 13 + id.len() + 2 + 2);
            assert_eq!(msg.0.len(), 4000, "handed back");
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn durable_notes_reach_actors_running_on_smol_and_on_the_std_executor() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let smol = playhouse_executors::SmolExecutor::global();
    let std = playhouse_executors::StdExecutor::with_threads(2).expect("threads");
    let (_a, on_smol) = node_on(&server, "on-smol", &seen, smol).await;
    let (_b, on_std) = node_on(&server, "on-std", &seen, std).await;
    let c = client(&server, "c").await;

    let keys: Vec<String> = (0..8).map(|i| format!("x{i}")).collect();
    for key in &keys {
        for n in 1..=3 {
            note(&c, key, &format!("{key}-{n}"), n).await;
        }
    }
    for key in &keys {
        eventually("applied", async || get(&c, key).await.log.len() >= 3).await;
        assert_eq!(get(&c, key).await.log, vec![1, 2, 3], "{key}");
    }
    let active = on_smol.active_keys().len() + on_std.active_keys().len();
    assert_eq!(active, keys.len(), "each key active on one node");
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn a_delivery_dropped_unconfirmed_comes_again() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, _on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;

    note(&c, "dropper", "dropped-1", DROPPED).await;
    note(&c, "dropper", "after-1", 1).await;
    eventually("both applied", async || {
        get(&c, "dropper").await.log.len() >= 2
    })
    .await;
    assert_eq!(
        get(&c, "dropper").await.log,
        vec![DROPPED, 1],
        "the dropped note again, before the next one"
    );
    let handed = deliveries_of(&seen, "dropper", DROPPED);
    assert_eq!(
        handed.iter().map(|h| h.deliveries).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(handed[0].sequence, handed[1].sequence);
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn a_note_its_owner_applied_but_never_confirmed_is_delivered_elsewhere_and_skipped() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, on_a) = node(&server, "a", &seen).await;
    let (b, on_b) = node(&server, "b", &seen).await;
    let c = client(&server, "c").await;

    let receipt = note(&c, "crash", "held-1", HELD).await;
    eventually("applied (and held unconfirmed)", async || {
        get(&c, "crash").await.log == vec![HELD]
    })
    .await;
    let first = get(&c, "crash").await.node;
    let (gone, stays, stays_handle) = if first == "a" {
        (a, b, on_b)
    } else {
        (b, a, on_a)
    };

    // Its owner goes without confirming (it leaves without passivating anything).
    gone.leave().await;
    eventually("delivered again on the other node", async || {
        deliveries_of(&seen, "crash", HELD)
            .iter()
            .any(|h| h.node == stays.node_name())
    })
    .await;
    eventually("skipped there, as already applied", async || {
        !seen.skipped.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        seen.skipped.lock().unwrap().clone(),
        vec![("crash".to_owned(), receipt.sequence)]
    );
    let handed = deliveries_of(&seen, "crash", HELD);
    assert_eq!(handed.len(), 2, "{handed:?}");
    assert!(handed[1].deliveries >= 2, "a redelivery: {handed:?}");
    assert_eq!(handed[1].sequence, receipt.sequence);
    let after = get(&c, "crash").await;
    assert_eq!(after.node, stays.node_name());
    assert_eq!(after.log, vec![HELD], "applied once");
    assert!(stays_handle.is_active("crash"));
    assert!(seen.overlaps.lock().unwrap().is_empty(), "never two owners");
    eventually("confirmed and out of the stream", async || {
        stored(&c).await == 0
    })
    .await;
}

#[tokio::test]
async fn notes_stored_while_nobody_serves_are_handled_when_a_node_comes() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    on_a.stop(WAIT).await;
    let c = client(&server, "c").await;

    for n in 1..=3 {
        note(&c, "later", &format!("later-{n}"), n).await;
    }
    tokio::time::sleep(TTL).await;
    assert_eq!(stored(&c).await, 3, "kept while nobody serves the group");

    // A node that starts later finds them in its sweep (the wakes went to nobody).
    let (_b, on_b) = node(&server, "b", &seen).await;
    eventually("woken and applied", async || on_b.is_active("later")).await;
    eventually("all three applied", async || {
        get(&c, "later").await.log.len() >= 3
    })
    .await;
    assert_eq!(get(&c, "later").await.log, vec![1, 2, 3]);
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

/// Stores a note, retrying under the same id while the server is out of reach: stored once.
async fn note_retrying(broker: &NatsBroker, key: &str, id: &str, n: u32) {
    let notes = broker.sharded_ref::<Note>("accounts");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let timeout = Duration::from_secs(1);
        match notes.tell_durable(key, id, Note(n), timeout).await {
            Ok(_) => return,
            Err(RemoteError::Timeout | RemoteError::Disconnected(_)) => {
                assert!(tokio::time::Instant::now() < deadline, "never stored");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("durable note {n} to {key}: {other}"),
        }
    }
}

#[tokio::test]
async fn stored_notes_survive_a_server_restart_and_an_owner_goes_on_after_one() {
    let mut server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;
    note(&c, "survivor", "survivor-1", 1).await;
    eventually("applied", async || get(&c, "survivor").await.log == vec![1]).await;

    // Stored while nobody serves the group, then the server restarts.
    on_a.stop(WAIT).await;
    note(&c, "survivor", "survivor-2", 2).await;
    note(&c, "survivor", "survivor-3", 3).await;
    server.restart().expect("restarts");

    let (_b, on_b) = node(&server, "b", &seen).await;
    eventually("handled after the restart", async || {
        get(&c, "survivor").await.log == vec![1, 2, 3]
    })
    .await;
    assert!(on_b.is_active("survivor"));

    // The server restarts under the key's owner; notes stored afterwards reach the key.
    server.restart().expect("restarts");
    note_retrying(&c, "survivor", "survivor-4", 4).await;
    note_retrying(&c, "survivor", "survivor-5", 5).await;
    // On failure it shows where the notes stand (still stored or not, the key's consumer,
    // the owner's counts), to tell a pull the server forgot from a wake that was lost.
    let deadline = tokio::time::Instant::now() + WAIT;
    while get(&c, "survivor").await.log != vec![1, 2, 3, 4, 5] {
        if tokio::time::Instant::now() >= deadline {
            let consumer = async {
                let stream = c.jetstream().get_stream(STREAM).await.ok()?;
                let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                    stream.get_consumer("k_survivor").await.ok()?;
                let info = consumer.info().await.ok()?;
                Some(format!(
                    "pending {}, unconfirmed {}, pulls waiting {}, delivered {:?}, acknowledged {:?}",
                    info.num_pending,
                    info.num_ack_pending,
                    info.num_waiting,
                    info.delivered,
                    info.ack_floor
                ))
            };
            panic!(
                "never: handled after the second restart; log {:?}, stored {}, active on b {}, \
                 b's stats {:?}, consumer {:?}",
                get(&c, "survivor").await.log,
                stored(&c).await,
                on_b.is_active("survivor"),
                on_b.stats(),
                consumer.await,
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn passivation_hands_stored_notes_to_the_next_activation() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;

    note(&c, "resting", "resting-1", 1).await;
    eventually("applied", async || get(&c, "resting").await.log == vec![1]).await;
    assert!(on_a.passivate("resting").await);
    assert!(!on_a.is_active("resting"));

    // Stored after the passivation: the wake activates the key again, through the factory.
    note(&c, "resting", "resting-2", 2).await;
    eventually("applied after the reactivation", async || {
        get(&c, "resting").await.log == vec![1, 2]
    })
    .await;
    assert_eq!(seen.count("resting"), 2);
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn a_key_passivated_with_a_note_unconfirmed_gets_it_again_in_its_next_activation() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;

    let receipt = note(&c, "pending", "pending-1", HELD).await;
    eventually("applied (and held unconfirmed)", async || {
        get(&c, "pending").await.log == vec![HELD]
    })
    .await;
    // The actor stops with the delivery in hand: unconfirmed, it stays stored.
    assert!(on_a.passivate("pending").await);
    assert_eq!(stored(&c).await, 1);

    // The sweep activates the key again; the note comes with its count of deliveries (which
    // may count one handed to the passivated activation's pull after it stopped reading).
    eventually("delivered again", async || {
        deliveries_of(&seen, "pending", HELD).len() == 2
    })
    .await;
    let handed = deliveries_of(&seen, "pending", HELD);
    assert_eq!(handed[1].sequence, receipt.sequence);
    assert!(handed[1].deliveries >= 2, "{handed:?}");
    eventually("skipped, as already applied", async || {
        seen.skipped.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(get(&c, "pending").await.log, vec![HELD], "applied once");
    assert_eq!(seen.count("pending"), 2, "two activations");
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn a_delivery_kept_past_its_actor_does_not_hold_the_passivation_up() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (_a, on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;

    note(&c, "parking", "parking-1", PARKED).await;
    eventually("parked", async || seen.parked.lock().unwrap().len() == 1).await;
    let passivated = tokio::time::timeout(WAIT, on_a.passivate("parking")).await;
    assert_eq!(passivated, Ok(true), "the passivation ends (after one TTL)");

    // Dropped at last, unconfirmed: the note comes again, to a new activation.
    seen.parked.lock().unwrap().clear();
    eventually("applied on its next delivery", async || {
        get(&c, "parking").await.log == vec![PARKED]
    })
    .await;
    assert_eq!(seen.count("parking"), 2);
    eventually("out of the stream", async || stored(&c).await == 0).await;
}

#[tokio::test]
async fn durable_sends_refuse_bad_input_with_typed_errors() {
    let server = TestServer::start().expect("nats-server");
    let seen = Activations::default();
    let (a, _on_a) = node(&server, "a", &seen).await;
    let c = client(&server, "c").await;
    let notes = c.sharded_ref::<Note>("accounts");

    match notes.tell_durable("not a key", "id-1", Note(1), WAIT).await {
        Err(RemoteError::Rejected {
            reason: Rejection::InvalidKey { key },
            msg: Note(1),
        }) => assert_eq!(key, "not a key"),
        other => panic!("expected InvalidKey, got {other:?}"),
    }
    for id in ["", "two words", &"x".repeat(129)] {
        match notes.tell_durable("k", id, Note(2), WAIT).await {
            Err(RemoteError::Rejected {
                reason: Rejection::Malformed { .. },
                msg: Note(2),
            }) => {}
            other => panic!("expected Malformed for id {id:?}, got {other:?}"),
        }
    }
    // A group that never took durable messages has no stream.
    match c
        .sharded_ref::<Note>("nobody")
        .tell_durable("k", "id-3", Note(3), WAIT)
        .await
    {
        Err(RemoteError::NotFound { name, msg: Note(3) }) => assert_eq!(name, "nobody"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A type the group does not take durably is stored (the sender cannot know), then taken
    // out of the stream as a dead letter where it was delivered.
    let pushes = c.sharded_ref::<Push>("accounts");
    pushes
        .tell_durable("wrong", "push-1", Push(7), WAIT)
        .await
        .expect("stored");
    eventually("refused as a dead letter", async || {
        a.dead_letters().get(DeadLetterKind::Rejected) >= 1
    })
    .await;
    eventually("out of the stream", async || stored(&c).await == 0).await;
    assert_eq!(get(&c, "wrong").await.log, Vec::<u32>::new(), "not applied");
}
