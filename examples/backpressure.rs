//! What each mailbox strategy does when it is full.
//!
//! An actor is held busy on a gate while we send 6 messages into a mailbox of capacity 3; then the
//! gate opens and we look at what the actor handled. Run with `cargo run --example backpressure`.

use std::convert::Infallible;
use std::time::Duration;

use playhouse::prelude::*;
use tokio::sync::oneshot;

/// Records the numbers it handles.
#[derive(Default)]
struct Recorder {
    seen: Vec<u32>,
}

enum RecMsg {
    /// Tell the asker we are busy, then wait for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    Work(u32),
    Seen(Reply<Vec<u32>>),
}

impl Actor for Recorder {
    type Message = RecMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Recorder {
    async fn handle(&mut self, msg: RecMsg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            RecMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            RecMsg::Work(n) => self.seen.push(n),
            RecMsg::Seen(reply) => {
                let _ = reply.send(std::mem::take(&mut self.seen));
            }
        }
        Ok(())
    }
}

const CAPACITY: usize = 3;

async fn demo<MB: Mailbox>(name: &str, mailbox: MB) {
    let spawner = System::new(TokioExecutor::current()).spawner(mailbox);
    let actor = spawner.spawn(Recorder::default());
    let (open, gate) = oneshot::channel();
    actor
        .ask(|r| RecMsg::Hold(r, gate))
        .await
        .expect("actor is busy now");

    let mut outcomes = Vec::new();
    let mut waiting = Vec::new();
    for n in 1..=6 {
        // try_tell never waits; where it reports Full under Block, a `tell` would wait for room.
        let dropped_before = actor.dropped_count();
        match actor.try_tell(RecMsg::Work(n)) {
            Ok(()) if actor.dropped_count() > dropped_before => {
                outcomes.push(format!("{n}:ok(a drop)"))
            }
            Ok(()) => outcomes.push(format!("{n}:ok")),
            Err(SendError::Full(RecMsg::Work(back))) => {
                outcomes.push(format!("{n}:full(handed back {back})"));
                waiting.push(back);
            }
            Err(e) => outcomes.push(format!("{n}:{e}")),
        }
    }
    println!("{name:<20} sends: {}", outcomes.join(" "));

    // Under Block, a tell of a handed-back message waits until the actor makes room.
    let blocked_tell = async {
        for n in waiting.drain(..) {
            if actor.tell(RecMsg::Work(n)).await.is_err() {
                break;
            }
        }
    };
    let _ = open.send(());
    if name.contains("Block") {
        tokio::time::timeout(Duration::from_secs(5), blocked_tell)
            .await
            .expect("room was made");
    }

    // Under DropNewest/DropOldest/Reject, a request sent into a still-full mailbox would itself be
    // dropped or refused (the ask would say `NoReply(Overflow)` or `Full`): let the actor catch up.
    while actor.mailbox_len() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seen = actor.ask(RecMsg::Seen).await.expect("answered");
    println!(
        "{name:<20} handled {seen:?}, dropped {}, discarded {}",
        actor.dropped_count(),
        actor.discarded_count()
    );
    actor.stop();
    actor.wait().await;
}

#[tokio::main]
async fn main() {
    println!("capacity {CAPACITY}; the actor is busy while messages 1..=6 arrive\n");
    demo(
        "Bounded<Block>",
        Bounded::<Block>::with_capacity(CAPACITY).expect("non-zero"),
    )
    .await;
    demo(
        "Bounded<DropNewest>",
        Bounded::<DropNewest>::with_capacity(CAPACITY).expect("non-zero"),
    )
    .await;
    demo(
        "Bounded<DropOldest>",
        Bounded::<DropOldest>::with_capacity(CAPACITY).expect("non-zero"),
    )
    .await;
    demo(
        "Bounded<Reject>",
        Bounded::<Reject>::with_capacity(CAPACITY).expect("non-zero"),
    )
    .await;
    demo("Unbounded", Unbounded).await;
    println!("\nBlock: the full sends waited and were delivered later, in order.");
    println!(
        "DropNewest kept the first {CAPACITY}; DropOldest kept the last {CAPACITY}; Reject handed the rest back."
    );
}
