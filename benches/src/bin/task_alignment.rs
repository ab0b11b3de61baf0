//! `task_alignment`: resident bytes per pair of one `Arc` (standing in for an actor's cell) and one
//! idle Tokio task, for several `Arc` chunk sizes and task sizes, on a current-thread runtime.
//! It shows the effect behind the size of the actor cell (`docs/performance.md`, "Why 112 bytes"):
//! with glibc, Tokio's 128-byte-aligned tasks spawned back to back make each cell-and-task pair
//! take a multiple of 128 bytes. A cell chunk of up to 112 bytes fits below the next task (~463
//! bytes per pair here); 128 to 240 bytes take 512 (the 240-byte chunk with no slack at all, a
//! 208-byte one with a 32-byte piece cut off and freed beside every task).
//!
//! Each line: `arc chunk <c> B, <p> B of padding in the task's future -> <n> resident B per pair`; the figure
//! includes an 8-byte `Vec` slot per pair, as the `spawn` workload's does.

use std::sync::Arc;

use playhouse_benches::workload::{self, Latch};

/// Pairs per measurement.
const N: u64 = 100_000;

/// Spawns `N` pairs of an `Arc<[u8; ARC]>` and a task whose future carries `PAD` bytes and
/// waits forever; returns resident bytes per pair. The tasks stay idle until the runtime drops.
async fn pairs<const ARC: usize, const PAD: usize>() -> f64 {
    let started = Latch::new(N);
    workload::trim_heap();
    let before = workload::rss_bytes();
    let mut cells = Vec::with_capacity(N as usize);
    for _ in 0..N {
        let cell = Arc::new([0u8; ARC]);
        let (started, held, pad) = (started.clone(), cell.clone(), [1u8; PAD]);
        tokio::spawn(async move {
            started.count_down();
            std::future::pending::<()>().await;
            std::hint::black_box((held, pad));
        });
        cells.push(cell);
    }
    started.wait().await;
    workload::bytes_per(before, workload::rss_bytes(), N)
}

/// The glibc chunk of an `Arc` holding `payload` bytes: two 8-byte counts, an 8-byte header,
/// rounded up to 16.
fn arc_chunk(payload: usize) -> usize {
    (payload + 16 + 8).next_multiple_of(16)
}

macro_rules! measure {
    ($($arc:literal, $pad:literal);* $(;)?) => {$(
        // A fresh runtime per measurement, so that tasks left idle by the last one are gone.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("build tokio runtime");
        let bytes = rt.block_on(pairs::<$arc, $pad>());
        drop(rt);
        println!(
            "arc chunk {} B, {} B of padding in the task's future -> {bytes:.0} resident B per pair",
            arc_chunk($arc),
            $pad,
        );
    )*};
}

fn main() {
    measure!(
        56, 8; 72, 8; 88, 8; 104, 8; 120, 8; 136, 8; 152, 8; 168, 8; 184, 8; 200, 8; 216, 8; 232, 8; 248, 8;
        184, 200; 216, 200; 232, 200;
        184, 400; 216, 400; 232, 400;
    );
}
