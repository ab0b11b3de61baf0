//! The same actor model on smol (async-executor + async-io): no Tokio anywhere.
//!
//! Run with `cargo run --example smol --features smol`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use playhouse::prelude::*;

/// Counts ticks sent to itself by a timer.
struct Ticker {
    ticks: u32,
}

enum TickerMsg {
    Tick,
    Count(Reply<u32>),
}

impl Actor for Ticker {
    type Message = TickerMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Ticker {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        ctx.run_interval(Duration::from_millis(10), || TickerMsg::Tick);
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: TickerMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            TickerMsg::Tick => self.ticks += 1,
            TickerMsg::Count(reply) => {
                let _ = reply.send(self.ticks);
            }
        }
        Ok(())
    }
}

fn main() {
    let ex = Arc::new(async_executor::Executor::new());
    let executor = SmolExecutor::new(ex.clone());

    // Runs the executor on this thread until the future completes: actors and main together.
    executor.block_on(async {
        let ticker = System::new(executor.clone()).spawn(Ticker { ticks: 0 });
        async_io::Timer::after(Duration::from_millis(100)).await;
        let ticks = ticker.ask(TickerMsg::Count).await.expect("answered");
        println!("ticks after ~100 ms on smol: {ticks}");
        assert!(ticks > 0, "the interval timer fired");
        ticker.stop();
        println!("exit reason: {:?}", ticker.wait().await);
    });
}
