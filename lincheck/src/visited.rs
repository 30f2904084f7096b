//! The search's memory of configurations already explored, with pruning by dominance.
//!
//! A configuration is (returned operations linearized, unknown-outcome operations linearized, state).
//! Configuration A *dominates* B when both linearized the same returned operations and reached the
//! same state, and A's unknown operations are a subset of B's: every way to finish from B also
//! finishes from A (unknown operations never have to be linearized, and they never hold anything
//! back). So a configuration dominated by one already explored need not be explored; with no unknown
//! operations this is Porcupine's cache of (linearized set, state) pairs.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::bitset::{Bitset, Packed};

/// No entry / no record.
const NONE: usize = usize::MAX;

/// The configurations explored so far, in flat arenas (few, large allocations: a search may keep
/// millions of configurations, and allocating and freeing each one separately used to cost a third of
/// the search's time).
pub(crate) struct Visited<S> {
    /// The first entry of each hash chain, by hash of (returned set, state).
    heads: HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>,
    entries: Vec<Entry<S>>,
    /// Sets of unknown operations, chained per entry.
    unknown: Vec<UnknownSet>,
    /// The words of every packed set.
    words: Vec<u64>,
}

/// The configurations explored with one set of returned operations and one state.
struct Entry<S> {
    /// The next entry with the same hash.
    next: usize,
    returned: Packed,
    state: S,
    /// The first of the sets of unknown operations they linearized; none a subset of another.
    unknown: usize,
}

/// One set of unknown operations linearized, in an entry's chain.
struct UnknownSet {
    next: usize,
    set: Packed,
}

impl<S: Eq + Hash + Clone> Visited<S> {
    /// Nothing explored yet.
    pub(crate) fn new() -> Self {
        Visited { heads: HashMap::default(), entries: Vec::new(), unknown: Vec::new(), words: Vec::new() }
    }

    /// Remembers the configuration; true if no configuration explored before dominates it (the search
    /// should go there).
    pub(crate) fn insert(&mut self, returned: &Bitset, unknown: &Bitset, state: &S) -> bool {
        let mut hasher = FxHasher(returned.hash());
        state.hash(&mut hasher);
        let head = self.heads.entry(hasher.finish()).or_insert(NONE);
        let mut e = *head;
        while e != NONE {
            let entry = &self.entries[e];
            if returned.is(entry.returned.view(&self.words)) && entry.state == *state {
                break;
            }
            e = entry.next;
        }
        if e == NONE {
            let set = unknown.pack(&mut self.words);
            self.unknown.push(UnknownSet { next: NONE, set });
            let returned = returned.pack(&mut self.words);
            self.entries.push(Entry { next: *head, returned, state: state.clone(), unknown: self.unknown.len() - 1 });
            *head = self.entries.len() - 1;
            return true;
        }
        // Known returned set and state: new only if no set seen before is a subset of this one; the
        // sets this one is a subset of are dominated from now on, so they are dropped from the chain.
        let (mut prev, mut cur) = (NONE, self.entries[e].unknown);
        while cur != NONE {
            let seen = &self.unknown[cur];
            let (view, next) = (seen.set.view(&self.words), seen.next);
            if unknown.includes(view) {
                return false;
            }
            if !unknown.is_within(view) {
                prev = cur;
            } else if prev == NONE {
                self.entries[e].unknown = next;
            } else {
                self.unknown[prev].next = next;
            }
            cur = next;
        }
        let set = unknown.pack(&mut self.words);
        self.unknown.push(UnknownSet { next: self.entries[e].unknown, set });
        self.entries[e].unknown = self.unknown.len() - 1;
        true
    }
}

/// Passes an already-mixed 64-bit hash through unchanged (the buckets' keys are hashes).
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The rustc "Fx" hash: fast and good enough for bitsets and small states (this is not an adversarial
/// setting). SipHash would dominate the search's time on large partitions.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        // A final mix so that the low bits the table uses depend on every input bit.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(len: usize, set: &[usize]) -> Bitset {
        let mut b = Bitset::new(len);
        for &i in set {
            b.set(i);
        }
        b
    }

    #[test]
    fn remembers_configurations_and_prunes_dominated_ones() {
        let mut v = Visited::new();
        let none = bits(0, &[]);
        assert!(v.insert(&bits(10, &[]), &none, &1u32));
        assert!(!v.insert(&bits(10, &[]), &none, &1u32));
        assert!(v.insert(&bits(10, &[]), &none, &2u32));
        assert!(v.insert(&bits(10, &[3]), &none, &1u32));
        assert!(!v.insert(&bits(10, &[3]), &none, &1u32));
    }

    #[test]
    fn more_unknown_operations_for_the_same_result_are_dominated() {
        let mut v = Visited::new();
        let returned = bits(4, &[0]);
        assert!(v.insert(&returned, &bits(8, &[1, 2]), &7u32));
        assert!(!v.insert(&returned, &bits(8, &[1, 2, 5]), &7u32));
        assert!(v.insert(&returned, &bits(8, &[3]), &7u32));
        // A subset of an earlier set is new, and from now on dominates it.
        assert!(v.insert(&returned, &bits(8, &[1]), &7u32));
        assert!(!v.insert(&returned, &bits(8, &[1, 2]), &7u32));
        assert!(v.insert(&returned, &bits(8, &[1, 2]), &8u32));
    }
}
