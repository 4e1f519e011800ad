//! Per-evaluation memory accounting for the rule engine's memory guard.
//!
//! Rhai checks the size of the strings, arrays and maps a rule builds, but not a map grown
//! with `m[key] = value`, so a rule could still eat gigabytes before its deadline. The guard
//! must blame the rule that allocates, not whichever rule happens to look at the process's
//! size while another one grows it. So the process's allocator counts, per thread, the bytes
//! allocated minus the bytes freed; a rule runs alone on its thread (see `pool`), and the
//! growth of that thread's count during the evaluation is the evaluation's own memory.
//!
//! The count costs one thread-local addition per allocation; the counters are plain `Cell`s
//! with constant initialisers and no destructor, so the allocator may use them at any time,
//! also while a thread starts or ends.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting net bytes per thread.
pub struct CountingAlloc;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (may go negative: a thread may free
    /// what another allocated).
    static NET: Cell<i64> = const { Cell::new(0) };
    /// The count when the current evaluation started, and how far it may grow.
    static START: Cell<i64> = const { Cell::new(0) };
    static BUDGET: Cell<i64> = const { Cell::new(i64::MAX) };
}

#[inline]
fn add(n: i64) {
    // `try_with`: never panic inside the allocator, even during thread teardown.
    let _ = NET.try_with(|c| c.set(c.get().wrapping_add(n)));
}

fn size(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// SAFETY: every call is forwarded unchanged to `System`; only a counter is updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        add(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(size(new_size) - size(layout.size()));
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Net bytes allocated by this thread so far.
pub(crate) fn thread_net() -> i64 {
    NET.try_with(Cell::get).unwrap_or(0)
}

/// Starts accounting an evaluation on this thread: it may grow by `budget` bytes.
pub(crate) fn arm(budget: u64) {
    let _ = START.try_with(|c| c.set(thread_net()));
    let _ = BUDGET.try_with(|c| c.set(i64::try_from(budget).unwrap_or(i64::MAX)));
}

/// Stops accounting on this thread.
pub(crate) fn disarm() {
    let _ = BUDGET.try_with(|c| c.set(i64::MAX));
}

/// How much the evaluation on this thread has grown, in bytes.
pub(crate) fn growth() -> i64 {
    thread_net().saturating_sub(START.try_with(Cell::get).unwrap_or(0))
}

/// Whether the evaluation on this thread has grown past its budget.
#[inline]
pub(crate) fn over_budget() -> bool {
    growth() > BUDGET.try_with(Cell::get).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_threads_allocations_only() {
        arm(1 << 20);
        let before = growth();
        let other = std::thread::spawn(|| vec![0u8; 8 << 20]);
        let big = other.join().expect("thread");
        assert!(
            growth() - before < 1 << 20,
            "another thread's allocation counted"
        );
        let mine = vec![1u8; 2 << 20];
        assert!(growth() - before >= 2 << 20);
        assert!(over_budget());
        drop(mine);
        assert!(!over_budget());
        disarm();
        drop(big);
    }
}
