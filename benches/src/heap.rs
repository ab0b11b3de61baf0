//! [`CountingAlloc`]: the system allocator, counting the bytes of the heap chunks live at any
//! moment, for measurements of memory per actor that do not depend on page reuse.
//!
//! The resident set (`/proc/self/statm`) is what an operator sees, but between two readings it
//! moves with pages that an earlier run freed and the allocator kept, so per-actor figures
//! taken from it wander by tens of bytes from run to run. The live chunk bytes counted here are
//! exact and the same in every run: each allocation counts as the chunk glibc's malloc carves
//! for it (the request plus an 8-byte header, rounded up to 16, at least 32 bytes), which is
//! what it occupies once the heap is warm.
//!
//! A binary that wants the count installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static HEAP: playhouse_benches::heap::CountingAlloc = playhouse_benches::heap::CountingAlloc;
//! ```
//!
//! and reads [`live_bytes`]; without it, `live_bytes` stays 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of the chunks live now (see the module docs); only moved by [`CountingAlloc`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The chunk glibc's malloc uses for a request of `size` bytes on a 64-bit target.
pub const fn chunk_bytes(size: usize) -> usize {
    let chunk = (size + 8 + 15) & !15;
    if chunk < 32 { 32 } else { chunk }
}

/// Bytes of the heap chunks live now, if [`CountingAlloc`] is the global allocator (0 if not).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// [`System`], counting live chunk bytes in a global counter (one relaxed atomic add per
/// allocation and per free: fine for a measurement binary, not for a timed one).
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's own arguments, so the
// `GlobalAlloc` contract holds as it does for `System`; the counting only touches an atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(chunk_bytes(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(chunk_bytes(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(chunk_bytes(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(chunk_bytes(layout.size()), Ordering::Relaxed);
            LIVE.fetch_add(chunk_bytes(new_size), Ordering::Relaxed);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_bytes;

    #[test]
    fn chunks_are_glibcs() {
        assert_eq!(chunk_bytes(0), 32);
        assert_eq!(chunk_bytes(24), 32);
        assert_eq!(chunk_bytes(25), 48);
        assert_eq!(chunk_bytes(88), 96);
        assert_eq!(chunk_bytes(104), 112);
        assert_eq!(chunk_bytes(105), 128);
    }
}
