//! `ask_span` (feature `tracing`): what carrying an ask's span to its handler costs. One actor
//! (`Bounded<Block>` of 1024) on a current-thread Tokio runtime; 20,000 asks one after another,
//! then 200,000 tells and an ask, all inside one `caller` span; 8 rounds, the first a warm-up.
//! Prints the median and lowest ns per ask and per tell over the other 7.
//!
//! `ask_span` installs a registry subscriber recording `DEBUG` (every span is made: the
//! `handle` span of each message, its parent the caller's span for an ask); `ask_span nosub`
//! installs none (the spans cost their level checks).

use std::time::Instant;

use playhouse::prelude::*;
use playhouse_benches::counter::{Counter, Msg};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const ASKS: u32 = 20_000;
const TELLS: u32 = 200_000;
const ROUNDS: usize = 8;

fn main() {
    if std::env::args().nth(1).as_deref() != Some("nosub") {
        let subscriber =
            tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::DEBUG);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let system = System::new(TokioExecutor::current());
        let actor = system.spawn_with(Counter(0), Bounded::<Block>::with_capacity(1024).unwrap());
        let (mut asks, mut tells) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let start = Instant::now();
            async {
                for _ in 0..ASKS {
                    actor.ask(Msg::Get).await.unwrap();
                }
            }
            .instrument(tracing::info_span!("caller"))
            .await;
            let ask = start.elapsed().as_nanos() as f64 / f64::from(ASKS);
            let start = Instant::now();
            async {
                for _ in 0..TELLS {
                    actor.tell(Msg::Add(1)).await.unwrap();
                }
                actor.ask(Msg::Get).await.unwrap();
            }
            .instrument(tracing::info_span!("caller"))
            .await;
            let tell = start.elapsed().as_nanos() as f64 / f64::from(TELLS);
            if round > 0 {
                asks.push(ask);
                tells.push(tell);
            }
        }
        asks.sort_by(f64::total_cmp);
        tells.sort_by(f64::total_cmp);
        let mid = asks.len() / 2;
        println!(
            "ask {:.0} ns (lowest {:.0}), tell {:.1} ns (lowest {:.1})",
            asks[mid], asks[0], tells[mid], tells[0]
        );
    });
}
