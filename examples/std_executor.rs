//! Actors on plain std threads: no Tokio, no async-io. For embedded-std programs.
//!
//! Run with `cargo run --example std_executor --features std`.

use std::convert::Infallible;

use playhouse::prelude::*;

/// Sums what it is told; answers with the sum.
struct Summer(u64);

enum SumMsg {
    Add(u64),
    Sum(Reply<u64>),
}

impl Actor for Summer {
    type Message = SumMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Summer {
    async fn handle(&mut self, msg: SumMsg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            SumMsg::Add(n) => self.0 += n,
            SumMsg::Sum(reply) => {
                let _ = reply.send(self.0);
            }
        }
        Ok(())
    }
}

fn main() {
    let executor = StdExecutor::new().expect("start the thread pool");
    let system = System::new(executor.clone());
    let summer = system.spawn(Summer(0));

    // try_tell is sync: usable from any thread, no runtime needed.
    let mut sent = 0;
    for n in 1..=100 {
        let mut msg = SumMsg::Add(n);
        // Full (capacity 256 is plenty here, but this is how a sync sender backs off).
        while let Err(SendError::Full(back)) = summer.try_tell(msg) {
            msg = back;
            std::thread::yield_now();
        }
        sent += 1;
    }

    // Block the main thread on an ask: the pool runs the actor meanwhile.
    let sum = executor
        .block_on(summer.ask(SumMsg::Sum))
        .expect("answered");
    println!("sent {sent} numbers from a plain thread; the actor summed them to {sum}");
    assert_eq!(sum, 5050);

    summer.stop();
    let reason = executor.block_on(summer.wait());
    println!("exit reason: {reason:?}");
}
