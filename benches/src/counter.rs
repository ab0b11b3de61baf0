//! The counting actor the single-actor benchmarks (`observer`, `recipient`, `ask_span`) send
//! to: a tell adds, an ask reads the total.

use std::convert::Infallible;

use playhouse::{Actor, Context, Env, Handler, Reply};

/// An actor that keeps a running total.
pub struct Counter(pub u64);

/// What a [`Counter`] takes.
pub enum Msg {
    /// Adds to the total.
    Add(u64),
    /// Answers with the total.
    Get(Reply<u64>),
}

impl Actor for Counter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
        }
        Ok(())
    }
}
