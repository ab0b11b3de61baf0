//! A two-level supervision tree: workers crash on bad input and are restarted behind the same
//! reference; one subtree exceeds its restart intensity and escalates to the root. Every line
//! of output is a lifecycle event, with what the supervisor did and why.
//!
//! ```text
//! root (OneForOne, at most 2 restarts in 60 s)
//! ├── parsers (OneForOne, at most 3 restarts in 60 s)
//! │   ├── parser-a   permanent: restarted after any exit
//! │   └── parser-b
//! └── ledger (OneForAll, at most 1 restart in 60 s, transient)
//!     ├── journal    permanent
//!     └── store      permanent; fails on every write
//! ```
//!
//! Run with `cargo run --example supervision`.

use std::num::ParseIntError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use playhouse::prelude::*;
use playhouse::supervisor::{EventKind, Events, SupervisorEvent};

/// Parses numbers and adds them to a shared total. Bad input fails the handler, which ends the
/// incarnation; its supervisor restarts it, and the lines queued behind the bad one are handled
/// by the next incarnation.
struct Parser {
    total: Arc<AtomicU64>,
}

impl Actor for Parser {
    type Message = String;
    type Error = ParseIntError;
}

impl<V: Env> Handler<V> for Parser {
    async fn handle(&mut self, line: String, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let n: u64 = line.trim().parse()?;
        self.total.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

/// A worker that does nothing wrong: it is stopped and started again by its supervisor's
/// OneForAll strategy when its sibling fails.
struct Journal;

impl Actor for Journal {
    type Message = ();
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Journal {
    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A store whose disk is gone: every write fails.
struct Store;

#[derive(Debug)]
struct DiskGone;

impl std::fmt::Display for DiskGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the disk is gone")
    }
}

impl std::error::Error for DiskGone {}

impl Actor for Store {
    type Message = u64;
    type Error = DiskGone;
}

impl<V: Env> Handler<V> for Store {
    async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        Err(DiskGone)
    }
}

/// Says what an event means, the way an operator would want to read it.
fn describe(event: &SupervisorEvent) -> String {
    let who = event.child.as_deref().unwrap_or("-");
    match &event.kind {
        EventKind::Started => format!("[{}] started {who}", event.supervisor),
        EventKind::Stopped { reason } => {
            format!("[{}] {who} stopped: {reason}", event.supervisor)
        }
        EventKind::Restarted { incarnation } => format!(
            "[{}] restarted {who} (incarnation {incarnation}, same reference)",
            event.supervisor
        ),
        EventKind::StartFailed { cause } => {
            format!("[{}] {who} failed to start: {cause}", event.supervisor)
        }
        EventKind::Escalated { max_restarts } => format!(
            "[{}] more than {max_restarts} restart(s) in its period: stopping its children and exiting (escalation)",
            event.supervisor
        ),
        EventKind::AutoShutdown => format!("[{}] auto shutdown", event.supervisor),
        EventKind::HealthCheckFailed {
            cause,
            consecutive_failures,
        } => format!(
            "[{}] {who}'s health check failed ({consecutive_failures} in a row): {cause}",
            event.supervisor
        ),
    }
}

/// Prints events until one matches `until`.
async fn print_until(events: &Events, until: impl Fn(&SupervisorEvent) -> bool) {
    while let Some(event) = events.recv().await {
        println!("  {}", describe(&event));
        if until(&event) {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let system = System::new(TokioExecutor::current());
    let total = Arc::new(AtomicU64::new(0));

    let parsers = {
        let total = total.clone();
        move || {
            let (a, b) = (total.clone(), total.clone());
            SupervisorSpec::new(Strategy::OneForOne)
                .intensity(3, Duration::from_secs(60))
                .child(ChildSpec::new("parser-a", move || Parser {
                    total: a.clone(),
                }))
                .child(ChildSpec::new("parser-b", move || Parser {
                    total: b.clone(),
                }))
        }
    };
    let ledger = || {
        SupervisorSpec::new(Strategy::OneForAll)
            .intensity(1, Duration::from_secs(60))
            .child(ChildSpec::new("journal", || Journal))
            .child(ChildSpec::new("store", || Store))
    };
    let root = SupervisorSpec::new(Strategy::OneForOne)
        .name("root")
        .intensity(2, Duration::from_secs(60))
        .child(ChildSpec::supervisor("parsers", parsers))
        .child(ChildSpec::supervisor("ledger", ledger).restart(RestartType::Transient));
    let events = root.subscribe();

    println!("starting the tree (children start in order, each after the one before):");
    let root = root.start(&system).await.expect("the tree starts");
    print_until(&events, |e| e.child.as_deref() == Some("ledger")).await;

    println!("\nparser-a gets \"1\", \"x\", \"2\": \"x\" fails it; \"2\" waits in its mailbox:");
    let parsers = root.child_supervisor("parsers").await.unwrap();
    let parser_a = parsers
        .child::<Parser, Bounded<Block>>("parser-a")
        .await
        .unwrap();
    let before = parser_a.id();
    for line in ["1", "x", "2"] {
        parser_a.tell(line.to_string()).await.unwrap();
    }
    print_until(&events, |e| matches!(e.kind, EventKind::Restarted { .. })).await;
    // The restarted parser handles "2", which was queued behind the bad line.
    while total.load(Ordering::Relaxed) < 3 {
        tokio::task::yield_now().await;
    }
    println!(
        "  parser-a is still {} (same reference); the total is {}: nothing queued was lost",
        before,
        total.load(Ordering::Relaxed)
    );
    assert_eq!(parser_a.id(), before);

    println!("\nthe store fails on every write; the ledger allows 1 restart in 60 s:");
    let ledger = root.child_supervisor("ledger").await.unwrap();
    let store = ledger
        .child::<Store, Bounded<Block>>("store")
        .await
        .unwrap();
    store.tell(1).await.unwrap();
    print_until(&events, |e| {
        matches!(e.kind, EventKind::Restarted { .. }) && e.child.as_deref() == Some("store")
    })
    .await;
    store.tell(2).await.unwrap();
    print_until(&events, |e| {
        e.supervisor.as_ref() == "root" && e.child.as_deref() == Some("ledger")
    })
    .await;
    println!(
        "  the ledger exited with a normal reason (shutdown) and is transient, so root does not restart it"
    );

    println!("\nwhat root holds now (newest first):");
    for child in root.which_children().await.unwrap() {
        println!("  {:<8} {:?} ({:?})", child.id, child.state, child.kind);
    }

    root.stop();
    let reason = root.wait().await;
    println!("\nroot stopped: {reason}");
}
