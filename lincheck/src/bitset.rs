//! Sets of operation indices: which operations of a partition are linearized so far.
//!
//! Operations are numbered in call order, so a search's linearized set is nearly always "everything up
//! to some point, plus a few": [`Packed`] stores it as the count of leading full words and the few
//! words after, which keeps the search's cache small on long histories.

/// A set of indices below a fixed bound, one bit each, kept with a hash (Zobrist: the XOR of a fixed
/// random word per member) and its packed bounds up to date as it changes.
#[derive(Clone, Debug)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    hash: u64,
    /// `words[..full]` are all ones.
    full: usize,
    /// `words[top..]` are all zeros.
    top: usize,
}

/// A [`Bitset`] as kept in the search's cache: `full` words of ones, then `len` words stored in an
/// arena from `start`, then zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    full: usize,
    start: usize,
    len: usize,
}

/// A [`Packed`] set with its arena, to read it.
#[derive(Clone, Copy)]
pub(crate) struct PackedView<'a> {
    full: usize,
    tail: &'a [u64],
}

impl Packed {
    /// The set, read from the arena it was packed into.
    pub(crate) fn view(self, arena: &[u64]) -> PackedView<'_> {
        PackedView { full: self.full, tail: arena.get(self.start..self.start + self.len).unwrap_or(&[]) }
    }
}

impl PackedView<'_> {
    /// Word `i` of the set.
    fn word(&self, i: usize) -> u64 {
        match i.checked_sub(self.full) {
            None => u64::MAX,
            Some(j) => self.tail.get(j).copied().unwrap_or(0),
        }
    }

    /// One past the last word that may be nonzero.
    fn top(&self) -> usize {
        self.full + self.tail.len()
    }
}

/// The random word of member `i`: SplitMix64 of `i`.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bitset {
    /// An empty set for indices `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Bitset { words: vec![0; len.div_ceil(64)], hash: 0, full: 0, top: 0 }
    }

    /// Adds `i` (ignored if out of bounds).
    pub(crate) fn set(&mut self, i: usize) {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        let Some(word) = self.words.get_mut(w) else { return };
        if *word & bit != 0 {
            return;
        }
        *word |= bit;
        self.hash ^= zobrist(i);
        self.top = self.top.max(w + 1);
        while self.words.get(self.full) == Some(&u64::MAX) {
            self.full += 1;
        }
    }

    /// Removes `i`.
    pub(crate) fn clear(&mut self, i: usize) {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        let Some(word) = self.words.get_mut(w) else { return };
        if *word & bit == 0 {
            return;
        }
        *word &= !bit;
        self.hash ^= zobrist(i);
        self.full = self.full.min(w);
        while self.top > 0 && self.words[self.top - 1] == 0 {
            self.top -= 1;
        }
    }

    /// Whether `i` is in the set.
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    /// A hash of the members, the same for equal sets.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The set, packed into `arena`.
    pub(crate) fn pack(&self, arena: &mut Vec<u64>) -> Packed {
        let start = arena.len();
        arena.extend_from_slice(&self.words[self.full..self.top]);
        Packed { full: self.full, start, len: self.top - self.full }
    }

    /// Whether the set equals `packed`.
    pub(crate) fn is(&self, packed: PackedView<'_>) -> bool {
        self.full == packed.full && self.words[self.full..self.top] == *packed.tail
    }

    /// Whether every member of `packed` is in the set.
    pub(crate) fn includes(&self, packed: PackedView<'_>) -> bool {
        packed.top() <= self.top
            && (packed.full.min(self.full)..packed.top()).all(|i| packed.word(i) & !self.words[i] == 0)
    }

    /// Whether every member of the set is in `packed`.
    pub(crate) fn is_within(&self, packed: PackedView<'_>) -> bool {
        self.top <= packed.top() && (self.full.min(packed.full)..self.top).all(|i| self.words[i] & !packed.word(i) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(len: usize, members: &[usize]) -> Bitset {
        let mut b = Bitset::new(len);
        for &i in members {
            b.set(i);
        }
        b
    }

    /// Packs `b` into a fresh arena and checks the view against it.
    fn packed(b: &Bitset) -> (Packed, Vec<u64>) {
        let mut arena = vec![7]; // something before, as in a shared arena
        let p = b.pack(&mut arena);
        assert!(b.is(p.view(&arena)));
        (p, arena)
    }

    #[test]
    fn sets_clears_and_hashes_like_a_set() {
        let mut b = of(130, &[0, 63, 64, 129]);
        assert!(b.contains(63) && b.contains(64) && !b.contains(1));
        b.clear(64);
        b.clear(64);
        b.set(500); // out of range: ignored
        b.set(0); // already there
        assert!(!b.contains(64) && !b.contains(500));
        let same = of(130, &[129, 63, 0]);
        assert_eq!(b.hash(), same.hash());
        let (p, arena) = packed(&same);
        assert!(b.is(p.view(&arena)));
        let (p, arena) = packed(&of(130, &[0, 63]));
        assert!(!b.is(p.view(&arena)));
    }

    #[test]
    fn packs_prefixes_and_compares_packed_sets() {
        let mut b = of(300, &(0..150).collect::<Vec<_>>());
        let (p, arena) = packed(&b);
        assert_eq!((p.full, p.len, arena[p.start]), (2, 1, (1 << 22) - 1));
        b.set(200);
        let small = of(300, &[3, 200]);
        let (big_p, big_arena) = packed(&b);
        let (small_p, small_arena) = packed(&small);
        let (big, small_packed) = (big_p.view(&big_arena), small_p.view(&small_arena));
        assert!(b.includes(small_packed) && small.is_within(big));
        assert!(!small.includes(big) && !b.is_within(small_packed));
        b.clear(3);
        let (p, arena) = packed(&b);
        assert!(!b.includes(small_packed) && !small.is_within(p.view(&arena)));
        let (empty_p, empty_arena) = packed(&of(300, &[]));
        assert!(of(300, &[]).is_within(small_packed) && small.includes(empty_p.view(&empty_arena)));
        // Clearing inside the full prefix shrinks it; clearing the top bit lowers the top.
        b.clear(200);
        let (p, arena) = packed(&of(300, &(0..150).filter(|&i| i != 3).collect::<Vec<_>>()));
        assert!(b.is(p.view(&arena)));
    }
}
