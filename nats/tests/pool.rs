//! Worker pools across nodes: `join_pool` on a queue group, `pool` to send to it.

mod nodes;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use nodes::{ASK, Done, Job, Msg, Recorder, connect, server, system};
use playhouse_core::{DeadLetterKind, MessageBroker};
use playhouse_nats::{ExportError, RemoteError};
use support::{NodeProcess, STARTUP, STEP};

const POOL: &str = "jobs";
/// The wait for an acknowledgement while a member leaves, when a lost job is possible.
const LEAVING: Duration = Duration::from_secs(1);

/// A child node: a `Recorder` labelled with the role, a member of the pool (tells and asks of
/// `Job`); `READY`, then `JOB <role> <n>` per job. The command `COUNT` answers
/// `COUNT <role> <jobs handled>`.
#[tokio::test]
async fn member_node() {
    let Some(mut node) = support::node() else {
        return;
    };
    let (broker, system) = nodes::child_system(&node).await;
    let worker = system.spawn(Recorder::new(&node.role, true));
    broker
        .join_pool(POOL, &worker)
        .tell::<Job>()
        .ask::<Job, Done>(Msg::Job)
        .start()
        .await
        .expect("joined");
    node.emit("READY");
    while let Some(command) = node.next_command().await {
        if command == "COUNT" {
            let n = worker.ask(Msg::Count).await.expect("counted");
            node.emit(format!("COUNT {} {n}", node.role));
        }
    }
}

async fn count(member: &mut NodeProcess) -> u32 {
    member.send_line("COUNT");
    let line = member
        .wait_for_line(&format!("COUNT {} ", member.role()), STEP)
        .await;
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_pool_across_two_processes_handles_each_job_exactly_once() {
    let server = server();
    // First, so that the nodes do not race to make the cluster's buckets.
    let sender = connect(&server, "sender").await;
    let mut a = support::spawn_node("member_node", "a", &server, &[]);
    let mut b = support::spawn_node("member_node", "b", &server, &[]);
    a.wait_for_line("READY", STARTUP).await;
    b.wait_for_line("READY", STARTUP).await;

    let pool = sender.pool::<Job>(POOL);
    assert_eq!(pool.name(), POOL);
    const ASKS: u32 = 100;
    const ACKED: u32 = 100;
    let mut answered = BTreeSet::new();
    for n in 0..ASKS {
        let done: Done = pool.ask(Job(n), ASK).await.expect("one member answers");
        assert_eq!(done.job, n);
        assert!(["a", "b"].contains(&done.node.as_str()), "{done:?}");
        assert!(answered.insert(n));
    }
    for n in ASKS..ASKS + ACKED {
        pool.tell_acked(Job(n), ASK)
            .await
            .expect("one member took it");
    }
    // Each member's count comes from its actor, after every job it took (a mailbox keeps
    // order): the sum is every job once, none twice.
    let (in_a, in_b) = (count(&mut a).await, count(&mut b).await);
    assert_eq!(in_a + in_b, ASKS + ACKED, "a handled {in_a}, b {in_b}");
}

#[tokio::test]
async fn after_a_member_is_killed_later_jobs_go_to_the_survivor() {
    let server = server();
    // First, so that the nodes do not race to make the cluster's buckets.
    let sender = connect(&server, "sender").await;
    let mut doomed = support::spawn_node("member_node", "doomed", &server, &[]);
    let mut survivor = support::spawn_node("member_node", "survivor", &server, &[]);
    doomed.wait_for_line("READY", STARTUP).await;
    survivor.wait_for_line("READY", STARTUP).await;
    let pool = sender.pool::<Job>(POOL);
    for n in 0..10 {
        pool.ask::<Done>(Job(n), ASK).await.expect("answered");
    }
    let before = count(&mut survivor).await;

    doomed.kill_hard();
    // A job the server handed to the killed member before it saw the connection close is
    // lost (at most once): its ask times out, and is sent again.
    const LATER: u32 = 30;
    let mut timeouts = 0;
    for n in 100..100 + LATER {
        loop {
            match pool.ask::<Done>(Job(n), Duration::from_secs(2)).await {
                Ok(done) => {
                    assert_eq!(done.node, "survivor");
                    break;
                }
                Err(RemoteError::Timeout) => {
                    timeouts += 1;
                    assert!(timeouts < 10, "the dead member keeps getting jobs");
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(count(&mut survivor).await, before + LATER);
}

#[tokio::test]
async fn several_members_in_one_process_share_the_work_once() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let workers: Vec<_> = (0..3)
        .map(|i| system.spawn(Recorder::new(&format!("w{i}"), false)))
        .collect();
    for w in &workers {
        let joined = node
            .join_pool(POOL, w)
            .tell::<Job>()
            .start()
            .await
            .expect("any number join one pool");
        assert_eq!(joined.name(), POOL);
    }
    let pool = node.pool::<Job>(POOL);
    for n in 0..60 {
        pool.tell_acked(Job(n), ASK).await.unwrap();
    }
    let mut total = 0;
    for w in &workers {
        total += w.ask(Msg::Count).await.unwrap();
    }
    assert_eq!(total, 60);
}

#[tokio::test]
async fn a_pool_without_members_is_not_found_and_a_withdrawn_member_gets_nothing() {
    let server = server();
    let node = connect(&server, "node").await;
    let pool = node.pool::<Job>(POOL);
    match pool.ask::<Done>(Job(1), ASK).await {
        Err(RemoteError::NotFound { name, msg }) => {
            assert_eq!(name, POOL);
            assert_eq!(msg, Job(1));
        }
        other => panic!("{other:?}"),
    }

    let system = system(&node);
    let leaving = system.spawn(Recorder::new("leaving", false));
    let staying = system.spawn(Recorder::new("staying", false));
    let joined = node
        .join_pool(POOL, &leaving)
        .tell::<Job>()
        .start()
        .await
        .unwrap();
    pool.tell_acked(Job(2), ASK).await.unwrap();
    joined.withdraw();
    // Withdrawing does not wait: jobs sent until the node has unsubscribed still reach the
    // member; then the pool has nobody.
    // A job the server sent just as the node unsubscribed may be lost (at most once): its
    // acknowledgement times out.
    loop {
        match pool.tell_acked(Job(3), LEAVING).await {
            Ok(()) | Err(RemoteError::Timeout) => tokio::task::yield_now().await,
            Err(RemoteError::NotFound { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(leaving.is_alive(), "the actor keeps running");
    let leaving_count = leaving.ask(Msg::Count).await.unwrap();
    node.join_pool(POOL, &staying)
        .tell::<Job>()
        .start()
        .await
        .unwrap();
    for n in 0..20 {
        pool.tell_acked(Job(100 + n), ASK).await.unwrap();
    }
    assert_eq!(leaving.ask(Msg::Count).await.unwrap(), leaving_count);
    assert_eq!(staying.ask(Msg::Count).await.unwrap(), 20);
}

#[tokio::test]
async fn a_pool_member_that_ends_leaves_the_pool_and_a_plain_tell_to_none_is_a_dead_letter() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let worker = system.spawn(Recorder::new("w", false));
    node.join_pool(POOL, &worker)
        .tell::<Job>()
        .start()
        .await
        .unwrap();
    worker.stop();
    worker.wait().await;
    assert_eq!(
        node.join_pool(POOL, &worker)
            .tell::<Job>()
            .start()
            .await
            .unwrap_err(),
        ExportError::ActorGone
    );
    let pool = node.pool::<Job>(POOL);
    // Once the member's subscription is gone (its node unsubscribes when the actor ends), the
    // pool has nobody. Until then a job finds the actor gone, or is lost if the server sent it
    // just as the node unsubscribed (at most once): its acknowledgement times out.
    loop {
        match pool.tell_acked(Job(1), LEAVING).await {
            Err(RemoteError::NotFound { .. }) => break,
            Err(RemoteError::Closed(_) | RemoteError::Timeout) => tokio::task::yield_now().await,
            other => panic!("{other:?}"),
        }
    }
    pool.tell(Job(2)).await.unwrap();
    let deadline = tokio::time::Instant::now() + STEP;
    while node.dead_letters().get(DeadLetterKind::NoSuchName) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A pool member that can be held in a handler: `Hold` answers, then waits for its gate.
struct Gated {
    jobs: u32,
}

enum GatedMsg {
    Job,
    Hold(
        playhouse_core::Reply<()>,
        futures::channel::oneshot::Receiver<()>,
    ),
    Count(playhouse_core::Reply<u32>),
}

impl From<Job> for GatedMsg {
    fn from(Job(_): Job) -> GatedMsg {
        GatedMsg::Job
    }
}

impl playhouse_core::Actor for Gated {
    type Message = GatedMsg;
    type Error = std::convert::Infallible;
}

impl<V: playhouse_core::Env> playhouse_core::Handler<V> for Gated {
    async fn handle(
        &mut self,
        msg: GatedMsg,
        _: &mut playhouse_core::Context<Self, V>,
    ) -> Result<(), std::convert::Infallible> {
        match msg {
            GatedMsg::Job => self.jobs += 1,
            GatedMsg::Hold(reply, gate) => {
                let _ = reply.send(());
                let _ = gate.await;
            }
            GatedMsg::Count(reply) => {
                let _ = reply.send(self.jobs);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_stopping_member_leaves_the_pool_at_the_first_message_it_refuses() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let stopping = system.spawn(Gated { jobs: 0 });
    let staying = system.spawn(Gated { jobs: 0 });
    for member in [&stopping, &staying] {
        node.join_pool(POOL, member)
            .tell::<Job>()
            .start()
            .await
            .unwrap();
    }
    // Held in a handler, then asked to stop: it takes no more messages but has not ended.
    let (open, gate) = futures::channel::oneshot::channel();
    stopping
        .ask(|reply| GatedMsg::Hold(reply, gate))
        .await
        .unwrap();
    stopping.stop();
    assert!(stopping.is_alive() && !stopping.accepts_messages());
    // It cannot join anything any more.
    assert_eq!(
        node.join_pool("other", &stopping)
            .tell::<Job>()
            .start()
            .await
            .unwrap_err(),
        ExportError::ActorGone
    );
    let pool = node.pool::<Job>(POOL);
    let (mut taken, mut refused, mut timed_out) = (0, 0, 0);
    for n in 0..40 {
        match pool.tell_acked(Job(n), LEAVING).await {
            Ok(()) => taken += 1,
            // Refused by the stopping member, which then leaves the queue group.
            Err(RemoteError::Closed(_)) => refused += 1,
            // Lost as it leaves (at most once), or taken by the other member but acknowledged
            // late on a loaded machine.
            Err(RemoteError::Timeout) => timed_out += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(
        refused + timed_out <= 3,
        "the stopping member kept its share: {refused} of 40 refused, {timed_out} timed out"
    );
    let handled = staying.ask(GatedMsg::Count).await.unwrap();
    assert!(
        (taken..=taken + timed_out).contains(&handled),
        "{handled} handled, {taken} acknowledged"
    );
    let _ = open.send(());
    stopping.wait().await;
}

#[tokio::test]
async fn a_pool_name_is_checked_and_something_must_be_accepted() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let worker = system.spawn(Recorder::new("w", false));
    assert_eq!(
        node.join_pool("a.b", &worker)
            .tell::<Job>()
            .start()
            .await
            .unwrap_err(),
        ExportError::InvalidName { name: "a.b".into() }
    );
    assert_eq!(
        node.join_pool(POOL, &worker).start().await.unwrap_err(),
        ExportError::NothingAccepted
    );
    // A pool and an exported actor may share a name: they are apart.
    node.export(POOL, &worker)
        .tell::<Job>()
        .start()
        .await
        .unwrap();
    node.join_pool(POOL, &worker)
        .tell::<Job>()
        .start()
        .await
        .unwrap();
}
