//! Observing a supervision tree: the `TracingObserver` prints a worker's crash and restart as
//! log lines (through `tracing-subscriber`'s `fmt`), each naming the actor, and the `Metrics`
//! observer gives a snapshot of the worker and the sum over the tree.
//!
//! Run with `cargo run --example observability --features tracing`
//! (filtering is the subscriber's: this one prints `DEBUG` and above, which includes the
//! `handle` span around each handled message and the spawns). The last ask is made inside a
//! `report` span, which it carries to the handler: its line reads `report:handle{..}: asked`.

use std::num::ParseIntError;
use std::time::Duration;

use playhouse::observer::{Metrics, TracingObserver};
use playhouse::prelude::*;
use tracing::Instrument;

/// Parses numbers and keeps their sum; bad input fails the handler (and the incarnation).
struct Parser {
    sum: u64,
}

enum ParserMsg {
    Line(&'static str),
    Sum(Reply<u64>),
}

impl Actor for Parser {
    type Message = ParserMsg;
    type Error = ParseIntError;
}

impl<V: Env> Handler<V> for Parser {
    async fn handle(
        &mut self,
        msg: ParserMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            ParserMsg::Line(line) => {
                let n: u64 = line.trim().parse()?;
                self.sum += n;
                // Inside the runner's `handle` span: the line is attributed to this actor.
                tracing::info!(n, "parsed");
            }
            ParserMsg::Sum(reply) => {
                // Inside `handle`, itself inside the asker's `report` span.
                tracing::info!(sum = self.sum, "asked");
                let _ = reply.send(self.sum);
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_target(false)
        .init();

    // Both observers: the log lines, and the figures.
    let metrics = Metrics::new();
    let system = System::new(TokioExecutor::current())
        .with_observer((TracingObserver::new(), metrics.clone()));

    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(60))
        .child(ChildSpec::new("parser", || Parser { sum: 0 }));
    let sup = spec.start(&system).await.expect("the tree starts");
    let parser = sup
        .child::<Parser, Bounded>("parser")
        .await
        .expect("the parser");

    for line in ["1", "2", "three", "4"] {
        parser.tell(ParserMsg::Line(line)).await.expect("queued");
    }
    // The crash lost the first incarnation's sum (1 + 2); the restarted one has seen 4.
    let sum = parser
        .ask(ParserMsg::Sum)
        .instrument(tracing::info_span!("report"))
        .await
        .expect("an answer");
    println!("sum after the restart: {sum}");

    let m = metrics
        .snapshot(parser.id())
        .expect("the parser is observed");
    println!(
        "parser: {} handled, mean {:?}, max {:?}, queue high-water mark {}, {} restart(s), incarnation {}",
        m.handled,
        m.mean_handling().unwrap_or_default(),
        m.max_handling,
        m.high_water_mark,
        m.restarts,
        m.incarnation
    );
    let tree = sup.metrics(&metrics).await.expect("the tree's figures");
    let total = tree.total();
    println!(
        "tree: {} actors' messages handled: {}, restarts: {}",
        1 + tree.children.len(),
        total.handled,
        total.restarts
    );
    assert_eq!(sum, 4);
    assert_eq!(m.restarts, 1);

    sup.stop();
    sup.wait().await;
}
