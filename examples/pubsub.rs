//! A chat room on a pub/sub topic: users join by subscribing themselves (from their own
//! `started`, through `ctx.broker()`), say lines that the room's topic delivers to everyone
//! else, and leave by stopping (nobody unsubscribes them). A user with a small `Reject`
//! mailbox who is busy (held on a gate here) misses lines; each publisher's report says which.
//!
//! Run with `cargo run --example pubsub`.

use playhouse::mailbox::{Bounded, Reject};
use playhouse::prelude::*;
use playhouse::{Topic, UndeliveredReason};

/// A line said in the room, and who said it.
#[derive(Clone, Debug)]
struct Line {
    from: String,
    text: String,
}

/// The room: one topic of lines.
fn room() -> Topic<Line> {
    Topic::new("chat/lobby")
}

struct User {
    name: String,
    transcript: Vec<String>,
    /// Held on this gate at the first line it hears (the busy reader).
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

#[actor]
impl User {
    /// Joins the room: subscribes itself to the room's topic.
    #[started]
    fn join<V: Env>(&mut self, ctx: &mut Context<Self, V>) {
        ctx.broker()
            .subscribe(&room(), &ctx.myself())
            .expect("the room carries lines");
        println!("{} joins", self.name);
    }

    /// A line said in the room: `from` makes `UserMsg` convert from a `Line` and back, which
    /// is what subscribing to a `Topic<Line>` asks of the user's message type.
    #[message(from)]
    async fn heard(&mut self, line: Line) {
        if line.from == self.name {
            return;
        }
        if let Some(gate) = self.gate.take() {
            let _ = gate.await;
        }
        self.transcript
            .push(format!("{}: {}", line.from, line.text));
    }

    /// Says `text` in the room; answers how many users got the line and how many did not.
    #[message]
    async fn say<V: Env>(&mut self, text: String, ctx: &mut Context<Self, V>) -> (usize, usize) {
        let line = Line {
            from: self.name.clone(),
            text,
        };
        let report = ctx.broker().publish(&room(), line).await;
        for miss in &report.undelivered {
            if miss.reason == UndeliveredReason::Full {
                println!(
                    "  ({}'s line {:?} did not reach a user whose mailbox was full)",
                    self.name, miss.message.text
                );
            }
        }
        (report.delivered, report.undelivered.len())
    }

    /// The lines this user heard from the others.
    #[message]
    fn transcript(&self) -> Vec<String> {
        self.transcript.clone()
    }

    #[stopped]
    fn leave(&mut self) {
        println!("{} leaves", self.name);
    }
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        transcript: Vec::new(),
        gate: None,
    }
}

#[tokio::main]
async fn main() {
    let system = System::new(TokioExecutor::current());
    let ada = system.spawn(user("ada"));
    let bob = system.spawn(user("bob"));
    // A busy reader with room for two lines: what does not fit is reported, not waited for.
    let (open_gate, gate) = tokio::sync::oneshot::channel();
    let cy = system.spawn_with(
        User {
            gate: Some(gate),
            ..user("cy")
        },
        Bounded::<Reject>::with_capacity(2).expect("a positive capacity"),
    );
    while system.broker().topics().subscriber_count(&room()) < 3 {
        tokio::task::yield_now().await;
    }

    let (delivered, _) = ada.say("hello, room".into()).await.expect("alive");
    println!("ada's hello reached {delivered} subscribers (herself included)");
    // cy has taken the hello and is held: its two slots are free for bob's first two lines.
    while cy.mailbox_len() > 0 {
        tokio::task::yield_now().await;
    }
    for n in 1..=4 {
        bob.say(format!("bob's news #{n}")).await.expect("alive");
    }

    bob.stop();
    // Once `wait` resolves, bob's exit watchers have run: he has left the room.
    bob.wait().await;
    assert_eq!(system.broker().topics().subscriber_count(&room()), 2);
    let (delivered, missed) = ada.say("bob has left".into()).await.expect("alive");
    println!(
        "ada's last line went to {} subscribers ({delivered} delivered)",
        delivered + missed
    );
    assert_eq!(
        delivered + missed,
        2,
        "bob left without unsubscribing and is gone from the topic"
    );

    let _ = open_gate.send(());
    // Asked once cy has worked through its two queued lines (a full `Reject` mailbox would
    // refuse the question too).
    while cy.mailbox_len() > 0 {
        tokio::task::yield_now().await;
    }
    let cy_heard = cy.transcript().await.expect("alive");
    let ada_heard = ada.transcript().await.expect("alive");
    println!("ada heard {} lines: {ada_heard:?}", ada_heard.len());
    println!(
        "cy (busy, 2 slots) heard {} lines: {cy_heard:?}",
        cy_heard.len()
    );
    assert_eq!(ada_heard.len(), 4, "ada hears every line of bob's");
    assert_eq!(
        cy_heard.len(),
        3,
        "cy heard the hello and the two lines it had room for"
    );
    ada.stop();
    cy.stop();
    ada.wait().await;
    cy.wait().await;
}
