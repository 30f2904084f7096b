//! Support for the decoder fuzz targets, included by each fuzz test binary (`#[path]`): a
//! counting global allocator that measures the peak bytes one call allocates on its thread, mutations
//! of valid encodings, and the case count.
//!
//! A fuzz target installs [`CountingAlloc`] as its `#[global_allocator]`, builds seeds (valid
//! encodings of every message), and checks with proptest that decoding random bytes and
//! mutated seeds never panics and allocates at most a small multiple of the input's size plus
//! a constant ([`peak_alloc`]). `RAFTMFS_FUZZ_CASES` sets the cases per target (default
//! [`DEFAULT_CASES`], about a second per target); raise it for a long run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;

/// Cases per fuzz target when `RAFTMFS_FUZZ_CASES` is not set.
pub const DEFAULT_CASES: u32 = 20_000;

/// The proptest configuration of a fuzz target: `RAFTMFS_FUZZ_CASES` cases (default
/// [`DEFAULT_CASES`]), no failure persistence files.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("RAFTMFS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting what the current thread allocates while [`peak_alloc`] runs.
pub struct CountingAlloc;

fn note(delta: isize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = CURRENT.try_with(|c| {
                let now = c.get() + delta;
                c.set(now);
                let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
            });
        }
    });
}

// SAFETY: every call is passed to `System` unchanged; the bookkeeping only reads and writes
// this thread's counters (const-initialised `Cell`s, which never allocate).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Run `f` and return its result with the most bytes it had allocated at once on this thread
/// (memory it freed that was allocated before counts as nothing). Meaningful only in a binary
/// whose global allocator is [`CountingAlloc`].
pub fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    (out, PEAK.with(|p| p.get()).max(0) as usize)
}

/// One change to an encoding.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip bit `bit` of the byte at `at`.
    Flip { at: usize, bit: u8 },
    /// Set the byte at `at`.
    Set { at: usize, value: u8 },
    /// Insert a byte before `at`.
    Insert { at: usize, value: u8 },
    /// Remove the byte at `at`.
    Remove { at: usize },
    /// Cut the encoding at `at`.
    Truncate { at: usize },
    /// Write a bincode varint claiming a huge length at `at` (0xFC and a `u32`, or 0xFD and a
    /// `u64`), as a corrupt length prefix would.
    HugeLength { at: usize, len: u64 },
}

/// Any mutation (positions are taken modulo the encoding's length).
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop_oneof![Just(u32::MAX as u64), Just(64 << 20), any::<u64>()])
            .prop_map(|(at, len)| Mutation::HugeLength { at, len }),
    ]
}

/// `seed` with `muts` applied in order.
pub fn mutate(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in muts {
        let n = out.len();
        match *m {
            Mutation::Flip { at, bit } if n > 0 => out[at % n] ^= 1 << bit,
            Mutation::Set { at, value } if n > 0 => out[at % n] = value,
            Mutation::Insert { at, value } => out.insert(at % (n + 1), value),
            Mutation::Remove { at } if n > 0 => {
                out.remove(at % n);
            }
            Mutation::Truncate { at } => out.truncate(at % (n + 1)),
            Mutation::HugeLength { at, len } => {
                let at = at % (n + 1);
                let bytes: Vec<u8> = match u32::try_from(len) {
                    Ok(l) => std::iter::once(0xFC).chain(l.to_le_bytes()).collect(),
                    Err(_) => std::iter::once(0xFD).chain(len.to_le_bytes()).collect(),
                };
                let end = (at + bytes.len()).min(n);
                out.splice(at..end, bytes);
            }
            _ => {}
        }
    }
    out
}

/// Random inputs for a decoder: one of `seeds` mutated up to 8 times, or random bytes.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty(), "a fuzz target needs seeds");
    let mutated = (prop::sample::select(seeds), prop::collection::vec(mutation(), 1..8))
        .prop_map(|(seed, muts)| mutate(&seed, &muts));
    prop_oneof![3 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..512)]
}
