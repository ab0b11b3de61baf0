//! The Tokio runtime the crate owns: `async-nats` needs Tokio, the actors need not.
//!
//! One runtime per process, started on first use and never exposed: two worker threads, one
//! that holds the runtime, and Tokio's blocking pool while a name lookup runs.
//! Everything that touches the NATS client (connections, subscriptions, timers of asks) runs
//! there, so a node serves actors on smol or the std executor as well as on Tokio. A call from
//! another executor awaits a Tokio `JoinHandle`, which any executor can poll.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Handle;

static RUNTIME: OnceLock<Handle> = OnceLock::new();

/// The crate's runtime, started on first use.
pub(crate) fn handle() -> &'static Handle {
    RUNTIME.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("playhouse-nats".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("playhouse-nats-worker")
                    .enable_all()
                    .build()
                    .expect("playhouse-nats: cannot start its Tokio runtime");
                tx.send(runtime.handle().clone())
                    .expect("the starter waits");
                // The runtime lives as long as the process; this thread only keeps it.
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("playhouse-nats: cannot start its runtime thread");
        rx.recv().expect("the runtime thread sends its handle")
    })
}

/// Runs `fut` on the crate's runtime and waits for it from whatever executor the caller is on.
pub(crate) async fn run<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match handle().spawn(fut).await {
        Ok(out) => out,
        // The runtime never shuts down and our tasks are never aborted; a panic inside one is
        // a bug of this crate, shown as the panic it was.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Starts `fut` on the crate's runtime without waiting for it.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(fut)
}

/// A sleep on the crate's runtime's timer, which the caller may poll from any executor.
pub(crate) fn sleep(duration: std::time::Duration) -> tokio::time::Sleep {
    let _runtime = handle().enter();
    tokio::time::sleep(duration)
}

/// A sleep until `deadline` on the crate's runtime's timer, which the caller may poll from any
/// executor.
pub(crate) fn sleep_until(deadline: tokio::time::Instant) -> tokio::time::Sleep {
    let _runtime = handle().enter();
    tokio::time::sleep_until(deadline)
}

/// `now + after`, or about thirty years on where that does not fit in an `Instant` (an
/// `after` of `Duration::MAX` says "no limit"): never the overflow panic of `+`.
pub(crate) fn deadline_after(
    now: std::time::Instant,
    after: std::time::Duration,
) -> std::time::Instant {
    const FAR: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(after)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}
