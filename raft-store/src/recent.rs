//! The newest log entries, kept decoded in memory: [`Recent`].
//!
//! openraft reads an entry back right after appending it: the leader once per follower to
//! replicate it and once to apply it, a follower once to apply it. Each such read was a RocksDB
//! iteration and a bincode decode of bytes this process had just encoded. The log store keeps
//! the entries it appended last (up to a byte budget) and serves a read from them when the
//! whole range is there; anything else goes to RocksDB as before.
//!
//! The copy must never disagree with the database: every change to the `logs` column family
//! goes through the store, which updates this copy in the same order (entries are added after
//! they are written, and dropped before they are deleted), so a read between the two steps
//! finds the range missing here and asks RocksDB.

use std::collections::VecDeque;

/// Recently appended entries, contiguous by index, at most `budget` encoded bytes.
pub struct Recent<E> {
    entries: VecDeque<(u64, E, usize)>,
    bytes: usize,
    budget: usize,
}

impl<E: Clone> Recent<E> {
    pub fn new(budget: usize) -> Self {
        Recent { entries: VecDeque::new(), bytes: 0, budget }
    }

    /// Entry `index` (encoded in `size` bytes) was written after the others. An index that
    /// does not follow the newest one starts the copy afresh.
    pub fn push(&mut self, index: u64, entry: E, size: usize) {
        if self.entries.back().is_some_and(|(last, _, _)| last.checked_add(1) != Some(index)) {
            self.clear();
        }
        if size > self.budget {
            // Larger than the whole budget: not kept, and nothing older may be served past it.
            self.clear();
            return;
        }
        self.entries.push_back((index, entry, size));
        self.bytes += size;
        while self.bytes > self.budget {
            match self.entries.pop_front() {
                Some((_, _, s)) => self.bytes -= s,
                None => break,
            }
        }
    }

    /// Entries `[index, ∞)` are about to be deleted (a truncate).
    pub fn drop_since(&mut self, index: u64) {
        while self.entries.back().is_some_and(|(i, _, _)| *i >= index) {
            if let Some((_, _, s)) = self.entries.pop_back() {
                self.bytes -= s;
            }
        }
    }

    /// Entries `[0, index]` are about to be deleted (a purge).
    pub fn drop_upto(&mut self, index: u64) {
        while self.entries.front().is_some_and(|(i, _, _)| *i <= index) {
            if let Some((_, _, s)) = self.entries.pop_front() {
                self.bytes -= s;
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Entries `[start, end]`, when every one of them is here.
    pub fn get(&self, start: u64, end: u64) -> Option<Vec<E>> {
        let (first, _, _) = self.entries.front()?;
        let (last, _, _) = self.entries.back()?;
        if start < *first || end > *last || start > end {
            return None;
        }
        let from = usize::try_from(start - first).ok()?;
        let count = usize::try_from(end - start).ok()?.checked_add(1)?;
        Some(self.entries.range(from..from + count).map(|(_, e, _)| e.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_whole_ranges_it_holds() {
        let mut r = Recent::new(100);
        for i in 5..10 {
            r.push(i, i * 10, 10);
        }
        assert_eq!(r.get(5, 9), Some(vec![50, 60, 70, 80, 90]));
        assert_eq!(r.get(7, 7), Some(vec![70]));
        assert_eq!(r.get(4, 6), None, "starts before the copy");
        assert_eq!(r.get(8, 10), None, "ends after it");
    }

    #[test]
    fn keeps_to_its_budget_dropping_the_oldest() {
        let mut r = Recent::new(30);
        for i in 1..=5 {
            r.push(i, i, 10);
        }
        assert_eq!(r.get(3, 5), Some(vec![3, 4, 5]));
        assert_eq!(r.get(2, 5), None);
        // One entry above the whole budget empties it.
        r.push(6, 6, 31);
        assert_eq!(r.get(5, 5), None);
    }

    #[test]
    fn truncate_purge_and_a_gap_are_followed() {
        let mut r = Recent::new(1000);
        for i in 1..=10 {
            r.push(i, i, 1);
        }
        r.drop_since(8);
        assert_eq!(r.get(7, 7), Some(vec![7]));
        assert_eq!(r.get(8, 8), None);
        r.push(8, 80, 1); // the new entry 8 after the truncate
        assert_eq!(r.get(7, 8), Some(vec![7, 80]));
        r.drop_upto(3);
        assert_eq!(r.get(3, 4), None);
        assert_eq!(r.get(4, 4), Some(vec![4]));
        r.push(20, 20, 1); // not next to 8: the copy starts afresh
        assert_eq!(r.get(8, 8), None);
        assert_eq!(r.get(20, 20), Some(vec![20]));
    }
}
