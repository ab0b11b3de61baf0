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

/// What a user is told: a line from the room, or something to say.
enum UserMsg {
    Heard(Line),
    Say(String, Reply<(usize, usize)>),
    Transcript(Reply<Vec<String>>),
}

impl From<Line> for UserMsg {
    fn from(line: Line) -> Self {
        UserMsg::Heard(line)
    }
}

impl TryFrom<UserMsg> for Line {
    type Error = UserMsg;
    fn try_from(msg: UserMsg) -> Result<Self, UserMsg> {
        match msg {
            UserMsg::Heard(line) => Ok(line),
            other => Err(other),
        }
    }
}

struct User {
    name: String,
    transcript: Vec<String>,
    /// Held on this gate at the first line it hears (the busy reader).
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Actor for User {
    type Message = UserMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for User {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        ctx.broker()
            .subscribe(&room(), &ctx.myself())
            .expect("the room carries lines");
        println!("{} joins", self.name);
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: UserMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            UserMsg::Heard(line) if line.from != self.name => {
                if let Some(gate) = self.gate.take() {
                    let _ = gate.await;
                }
                self.transcript
                    .push(format!("{}: {}", line.from, line.text));
            }
            UserMsg::Heard(_) => {}
            UserMsg::Say(text, reply) => {
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
                let _ = reply.send((report.delivered, report.undelivered.len()));
            }
            UserMsg::Transcript(reply) => {
                let _ = reply.send(self.transcript.clone());
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
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

    let say = |who: &ActorRef<User>, text: &str| {
        let (who, text) = (who.clone(), text.to_owned());
        async move { who.ask(|r| UserMsg::Say(text, r)).await.expect("alive") }
    };
    let (delivered, _) = say(&ada, "hello, room").await;
    println!("ada's hello reached {delivered} subscribers (herself included)");
    // cy has taken the hello and is held: its two slots are free for bob's first two lines.
    while cy.mailbox_len() > 0 {
        tokio::task::yield_now().await;
    }
    for n in 1..=4 {
        say(&bob, &format!("bob's news #{n}")).await;
    }

    bob.stop();
    // Once `wait` resolves, bob's exit watchers have run: he has left the room.
    bob.wait().await;
    assert_eq!(system.broker().topics().subscriber_count(&room()), 2);
    let (delivered, missed) = say(&ada, "bob has left").await;
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
    let cy_heard = cy.ask(UserMsg::Transcript).await.expect("alive");
    let ada_heard = ada.ask(UserMsg::Transcript).await.expect("alive");
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
