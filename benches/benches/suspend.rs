//! What a handler that suspends costs per message, beside the same yield in a bare task.
//!
//! A handler that returns `Pending` (it awaited something not ready) leaves its actor marked
//! suspended, so that a kill can cut it; the next message then goes through the runner's
//! out-of-line `interrupt` path, which clears the mark. This bench prices that path.
//!
//! One actor on a current-thread Tokio runtime; the sender tells 100,000 messages back to back
//! (bounded mailbox of 1024, the sender waiting for room), then asks for the count. The handler
//! either awaits a future that is ready at once (`actor/ready`) or one that returns `Pending`
//! once and wakes itself (`actor/yields`). The floor is the same loop in a bare Tokio task
//! receiving from a `tokio::sync::mpsc` channel of 1024 (`bare/ready`, `bare/yields`): what a
//! yield costs there is the executor's rescheduling, which the actor pays as well. What the
//! actor's yield costs above the bare task's is playhouse's share: the suspended mark and the
//! `interrupt` path.
//!
//! Run with `cargo bench -p playhouse-benches --bench suspend`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use playhouse::prelude::*;

const MESSAGES: u64 = 100_000;
const CAPACITY: usize = 1024;

/// Returns `Pending` on its first poll (waking its task at once), `Ready` on the second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Awaits a [`YieldOnce`] per message if `yields`, a ready future otherwise.
async fn pause(yields: bool) {
    if yields {
        YieldOnce(false).await
    } else {
        std::future::ready(()).await
    }
}

struct Counter {
    yields: bool,
    count: u64,
}

enum Msg {
    Add,
    Get(Reply<u64>),
}

/// What the bare task takes.
enum BareMsg {
    Add,
    Get(tokio::sync::oneshot::Sender<u64>),
}

impl Actor for Counter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add => {
                pause(self.yields).await;
                self.count += 1;
            }
            Msg::Get(reply) => {
                let _ = reply.send(self.count);
            }
        }
        Ok(())
    }
}

/// `MESSAGES` tells to a fresh actor, then the ask: the time from the first tell to the answer.
async fn actor(system: &System<TokioExecutor>, yields: bool) -> Duration {
    let actor = system
        .spawner(Bounded::<Block>::with_capacity(CAPACITY).unwrap())
        .spawn(Counter { yields, count: 0 });
    let start = Instant::now();
    for _ in 0..MESSAGES {
        actor.tell(Msg::Add).await.unwrap();
    }
    assert_eq!(actor.ask(Msg::Get).await.unwrap(), MESSAGES);
    let elapsed = start.elapsed();
    actor.stop();
    actor.wait().await;
    elapsed
}

/// The same in a bare task over a Tokio channel.
async fn bare(yields: bool) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<BareMsg>(CAPACITY);
    let task = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(msg) = rx.recv().await {
            match msg {
                BareMsg::Add => {
                    pause(yields).await;
                    count += 1;
                }
                BareMsg::Get(reply) => {
                    let _ = reply.send(count);
                }
            }
        }
    });
    let start = Instant::now();
    for _ in 0..MESSAGES {
        tx.send(BareMsg::Add).await.ok().unwrap();
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send(BareMsg::Get(reply)).await.ok().unwrap();
    assert_eq!(answer.await.unwrap(), MESSAGES);
    let elapsed = start.elapsed();
    drop(tx);
    task.await.unwrap();
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let system = rt.block_on(async { System::new(TokioExecutor::current()) });
    let mut g = c.benchmark_group("suspend");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(MESSAGES));
    for (name, yields) in [("ready", false), ("yields", true)] {
        g.bench_function(format!("actor/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += actor(&system, yields).await;
                    }
                    total
                })
            })
        });
        g.bench_function(format!("bare/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += bare(yields).await;
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
