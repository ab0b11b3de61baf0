//! A worker pool: four identical workers under one supervisor, jobs spread round-robin, a
//! poisoned job that crashes its worker (restarted behind the same reference, its queue kept),
//! then a pool that routes to the least-loaded member and grows under load.
//!
//! Run with `cargo run --example worker_pool`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use playhouse::prelude::*;
use playhouse::supervisor::Routing;

/// A job: checksum `data`, answer on `reply`. `data == "poison"` makes the worker panic.
struct Job {
    data: String,
    reply: Reply<u64>,
}

/// Checksums jobs; counts what every incarnation of every worker handled.
struct Hasher {
    handled: Arc<AtomicU64>,
}

impl Actor for Hasher {
    type Message = Job;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Hasher {
    async fn handle(&mut self, job: Job, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        assert!(job.data != "poison", "a poisoned job");
        let sum = job
            .data
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        self.handled.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(sum);
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    // The poisoned job's panic is expected: keep the output to what the example says.
    std::panic::set_hook(Box::new(|_| {}));
    let system = System::new(TokioExecutor::current());
    let handled = Arc::new(AtomicU64::new(0));

    let counter = handled.clone();
    let pool = Pool::start(
        PoolSpec::new("hashers", 4, move || Hasher {
            handled: counter.clone(),
        }),
        &system,
    )
    .await
    .expect("the pool starts");
    let members: Vec<_> = pool.members().iter().map(|m| m.id().to_string()).collect();
    println!("pool of {} workers: {}", members.len(), members.join(", "));

    // 1,000 jobs, round-robin, one of them poisoned. Each ask resolves: with the checksum, or
    // for the poisoned one with `NoReply::Panicked`.
    let mut answers = Vec::new();
    for i in 0..1_000 {
        let data = if i == 500 {
            "poison".to_string()
        } else {
            format!("job {i}")
        };
        let worker = pool.pick().expect("a member");
        answers.push(tokio::spawn(async move {
            worker.ask(|reply| Job { data, reply }).await
        }));
    }
    let mut ok = 0;
    let mut failed = Vec::new();
    for answer in answers {
        match answer.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => failed.push(e.to_string()),
        }
    }
    println!("{ok} jobs answered, {} failed: {failed:?}", failed.len());
    assert_eq!(ok, 999);
    let after: Vec<_> = pool.members().iter().map(|m| m.id().to_string()).collect();
    assert_eq!(members, after);
    println!(
        "the crashed worker was restarted behind the same reference: {}",
        after.join(", ")
    );
    println!(
        "handled by all incarnations: {}",
        handled.load(Ordering::Relaxed)
    );

    pool.supervisor().stop();
    pool.supervisor().wait().await;

    // A pool that routes each job to the member with the fewest waiting, and grows.
    let counter = handled.clone();
    let pool = Pool::start(
        PoolSpec::new("elastic", 2, move || Hasher {
            handled: counter.clone(),
        })
        .routing(Routing::LeastLoaded),
        &system,
    )
    .await
    .unwrap();
    pool.grow().await.unwrap();
    println!(
        "\nleast-loaded pool grown to {} members",
        pool.members().len()
    );
    let mut answers = Vec::new();
    for i in 0..300 {
        let (reply, answer) = playhouse::reply_port();
        pool.tell(Job {
            data: format!("item {i}"),
            reply,
        })
        .await
        .unwrap();
        answers.push(answer);
    }
    for answer in answers {
        answer.await.unwrap();
    }
    for member in pool.members() {
        println!("  {} waiting: {}", member.id(), member.mailbox_len());
    }
    pool.shrink().await.unwrap();
    println!("shrunk to {} members", pool.members().len());
    pool.supervisor().stop();
    println!("pool stopped: {}", pool.supervisor().wait().await);
}
