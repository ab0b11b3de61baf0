//! One cluster, three executors: a Tokio node (this test), a smol node and a std-executor node
//! (child processes with no Tokio runtime of their own) exchange tells, asks and topic
//! messages, and find a name nobody serves. `async-nats` runs on the crate's hidden Tokio
//! runtime in every process.

mod nodes;
mod support;

use std::time::Duration;

use nodes::{ASK, Done, Job, Msg, Note, Recorder, child_config, config};
use playhouse_core::{ActorRef, Executor, System, Topic};
use playhouse_executors::{SmolExecutor, StdExecutor, TokioExecutor};
use playhouse_nats::NatsBroker;
use support::{Node, NodeProcess, STARTUP, STEP};

const TOPIC: &str = "mixed";

/// A child node on smol or the std executor (its role): a `Recorder` exported as
/// `<role>-echo` (tells of `Note`, asks of `Job`) and subscribed to the topic. Commands:
/// `ASK <name> <n>` (answers `ANSWER <node> <n>`), `TELL <name> <text>` (`TOLD`),
/// `PUBLISH <text>` (`PUBLISHED`).
#[test]
fn foreign_node() {
    let Some(node) = support::node() else { return };
    match node.role.as_str() {
        "smol" => {
            let executor = SmolExecutor::new(Default::default());
            executor.block_on(serve(node, executor.clone()));
        }
        "std" => {
            let executor = StdExecutor::with_threads(2).expect("threads");
            executor.block_on(serve(node, executor.clone()));
        }
        other => panic!("no executor named {other}"),
    }
}

async fn serve<E: Executor>(mut node: Node, executor: E) {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "the {} node runs outside any Tokio runtime",
        node.role
    );
    let role = node.role.clone();
    let broker = NatsBroker::connect(child_config(&node, &role))
        .await
        .expect("connect");
    let system = System::with_broker(executor, broker.clone());
    let me = system.spawn(Recorder::new(&role, true));
    broker
        .export(&format!("{role}-echo"), &me)
        .tell::<Note>()
        .ask::<Job, Done>(Msg::Job)
        .start()
        .await
        .expect("exported");
    broker
        .subscribe_remote(&Topic::<Note>::new(TOPIC), &me)
        .await
        .expect("subscribed");
    node.emit("READY");
    while let Some(command) = node.next_command().await {
        let mut words = command.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ASK"), Some(name), Some(n)) => {
                let done: Done = broker
                    .remote::<Job>(name)
                    .ask(Job(n.parse().unwrap()), ASK)
                    .await
                    .expect("answered");
                node.emit(format!("ANSWER {} {}", done.node, done.job));
            }
            (Some("TELL"), Some(name), Some(text)) => {
                broker
                    .remote::<Note>(name)
                    .tell_acked(Note(text.to_owned()), ASK)
                    .await
                    .expect("taken");
                node.emit("TOLD");
            }
            (Some("MISSING"), Some(name), None) => {
                // A name nobody serves: each send finds no responder, reads the registry (on
                // the crate's runtime: this executor has no Tokio timer) and says `NotFound`.
                let ask = broker.remote::<Job>(name).ask::<Done>(Job(1), ASK).await;
                let acked = broker
                    .remote::<Note>(name)
                    .tell_acked(Note("lost".into()), ASK)
                    .await;
                let pool = broker.pool::<Job>(name).ask::<Done>(Job(2), ASK).await;
                let found = |not_found: bool| if not_found { "NotFound" } else { "other" };
                node.emit(format!(
                    "MISSING {} {} {}",
                    found(ask.is_err_and(|e| e.is_not_found())),
                    found(acked.is_err_and(|e| e.is_not_found())),
                    found(pool.is_err_and(|e| e.is_not_found())),
                ));
            }
            (Some("PUBLISH"), Some(text), None) => {
                broker
                    .publish_remote(&Topic::new(TOPIC), Note(text.to_owned()))
                    .await
                    .expect("published");
                node.emit("PUBLISHED");
            }
            _ => panic!("unknown command {command:?}"),
        }
    }
}

#[tokio::test]
async fn a_tokio_node_a_smol_node_and_a_std_node_tell_ask_and_publish_to_each_other() {
    let server = playhouse_nats::testing::TestServer::start().unwrap_or_else(|e| panic!("{e}"));
    // First, so that the nodes do not race to make the cluster's buckets.
    let broker = NatsBroker::connect(config(&server, "tokio"))
        .await
        .expect("connect");
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let me = system.spawn(Recorder::new("tokio", false));
    broker
        .export("tokio-echo", &me)
        .tell::<Note>()
        .ask::<Job, Done>(Msg::Job)
        .start()
        .await
        .unwrap();
    let topic: Topic<Note> = Topic::new(TOPIC);
    broker.subscribe_remote(&topic, &me).await.unwrap();

    let mut smol = support::spawn_node("foreign_node", "smol", &server, &[]);
    let mut std = support::spawn_node("foreign_node", "std", &server, &[]);
    smol.wait_for_line("READY", STARTUP).await;
    std.wait_for_line("READY", STARTUP).await;

    for (child, role) in [(&mut smol, "smol"), (&mut std, "std")] {
        // Tokio asks and tells the child's actor.
        let echo = broker.remote::<Job>(&format!("{role}-echo"));
        let done: Done = echo.ask(Job(7), ASK).await.expect("answered");
        assert_eq!(
            done,
            Done {
                node: role.into(),
                job: 7
            }
        );
        broker
            .remote::<Note>(&format!("{role}-echo"))
            .tell(Note(format!("hello-{role}")))
            .await
            .unwrap();
        child
            .wait_for_line(&format!("NOTE {role} hello-{role}"), STEP)
            .await;

        // The child asks and tells the Tokio node's actor.
        child.send_line("ASK tokio-echo 42");
        assert_eq!(
            child.wait_for_line("ANSWER ", STEP).await,
            "ANSWER tokio 42"
        );
        child.send_line(format!("TELL tokio-echo from-{role}"));
        child.wait_for_line("TOLD", STEP).await;

        // Sends to a name nobody serves fail with `NotFound` on every executor.
        child.send_line("MISSING nobody");
        assert_eq!(
            child.wait_for_line("MISSING ", STEP).await,
            "MISSING NotFound NotFound NotFound"
        );
    }
    assert_eq!(seen(&me).await, ["from-smol", "from-std"]);

    // Topic messages from each node reach the others (and the publisher itself).
    broker
        .publish_remote(&topic, Note("from-tokio-to-all".into()))
        .await
        .unwrap();
    smol.wait_for_line("NOTE smol from-tokio-to-all", STEP)
        .await;
    std.wait_for_line("NOTE std from-tokio-to-all", STEP).await;
    smol.send_line("PUBLISH smol-to-all");
    smol.wait_for_line("PUBLISHED", STEP).await;
    std.wait_for_line("NOTE std smol-to-all", STEP).await;
    smol.wait_for_line("NOTE smol smol-to-all", STEP).await;
    std.send_line("PUBLISH std-to-all");
    std.wait_for_line("PUBLISHED", STEP).await;
    smol.wait_for_line("NOTE smol std-to-all", STEP).await;
    wait_until_seen(
        &me,
        &[
            "from-smol",
            "from-std",
            "from-tokio-to-all",
            "smol-to-all",
            "std-to-all",
        ],
    )
    .await;
    close(smol).await;
    close(std).await;
}

/// The notes `recorder` has.
async fn seen(recorder: &ActorRef<Recorder>) -> Vec<String> {
    recorder.ask(Msg::Seen).await.expect("answers")
}

/// Waits until `recorder` has exactly `expected`, in that order (each came after the one
/// before it had arrived, or from the same publisher).
async fn wait_until_seen(recorder: &ActorRef<Recorder>, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let seen = seen(recorder).await;
        if seen == expected {
            return;
        }
        assert!(
            expected.starts_with(&seen.iter().map(String::as_str).collect::<Vec<_>>()),
            "got {seen:?}, expected {expected:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "got only {seen:?} of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Closes the child's stdin, after which it exits by itself with status 0.
async fn close(mut child: NodeProcess) {
    child.close_stdin();
    assert!(child.wait(STEP).await.success());
}
