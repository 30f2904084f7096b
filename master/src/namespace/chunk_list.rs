//! A regular file's chunk table: the chunk id at each 64 MiB index, where only chunks that
//! exist cost memory.
//!
//! A file written from its start keeps a dense vector (8 bytes a chunk, an index is a
//! position); a file with large holes keeps a sorted map of the chunks it has. One write at
//! the end of a 2^57-byte file costs one entry, not 2^31 of them: the table must never grow
//! with an offset a client names, since every master applies it and every restart replays it.
//!
//! The form follows from the sequence of changes, which every master applies in the same order,
//! so replicas encode equal tables to equal bytes (the namespace digest relies on it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Holes a dense table may carry beyond one per chunk before it turns sparse: keeps small
/// files with a hole or two dense.
const DENSE_SLACK: usize = 8;

/// The chunk ids of a file by index; 0 is never stored (a missing index is a hole).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkList {
    /// Index `i` holds `ids[i]` (0 for a hole); the last element is never 0.
    Dense(Vec<u64>),
    /// Index → id, for files whose chunks are few compared with their highest index.
    Sparse(BTreeMap<u32, u64>),
}

impl Default for ChunkList {
    fn default() -> Self {
        ChunkList::Dense(Vec::new())
    }
}

impl ChunkList {
    /// The chunk id at `index`, 0 for a hole.
    pub fn get(&self, index: u32) -> u64 {
        match self {
            ChunkList::Dense(v) => v.get(index as usize).copied().unwrap_or(0),
            ChunkList::Sparse(m) => m.get(&index).copied().unwrap_or(0),
        }
    }

    /// Put chunk `id` (not 0) at `index`; returns the id that was there (0 for a hole).
    pub fn set(&mut self, index: u32, id: u64) -> u64 {
        debug_assert!(id != 0, "a hole is made by truncate, never stored");
        let i = index as usize;
        match self {
            ChunkList::Dense(v) if i < v.len() => std::mem::replace(&mut v[i], id),
            // Appending makes no hole: stays dense.
            ChunkList::Dense(v) if i == v.len() => {
                v.push(id);
                0
            }
            ChunkList::Dense(v) => {
                let count = v.iter().filter(|&&id| id != 0).count() + 1;
                if i < 2 * count + DENSE_SLACK {
                    v.resize(i + 1, 0);
                    v[i] = id;
                } else {
                    let mut m = self.to_map();
                    m.insert(index, id);
                    *self = ChunkList::Sparse(m);
                }
                0
            }
            ChunkList::Sparse(m) => {
                let old = m.insert(index, id).unwrap_or(0);
                self.densify_if_full();
                old
            }
        }
    }

    /// Make `index` a hole; returns the id that was there (0 for a hole already).
    pub fn clear(&mut self, index: u32) -> u64 {
        let old = match self {
            ChunkList::Dense(v) => match v.get_mut(index as usize) {
                Some(slot) => std::mem::replace(slot, 0),
                None => 0,
            },
            ChunkList::Sparse(m) => m.remove(&index).unwrap_or(0),
        };
        if let ChunkList::Dense(v) = self {
            while v.last() == Some(&0) {
                v.pop();
            }
        }
        self.densify_if_full();
        old
    }

    /// Cut the table to indexes below `keep`; returns the ids removed.
    pub fn truncate(&mut self, keep: u64) -> Vec<u64> {
        let freed = match self {
            ChunkList::Dense(v) => {
                let keep = usize::try_from(keep).unwrap_or(usize::MAX);
                if v.len() > keep {
                    v.split_off(keep).into_iter().filter(|&id| id != 0).collect()
                } else {
                    Vec::new()
                }
            }
            ChunkList::Sparse(m) => match u32::try_from(keep) {
                Ok(k) => m.split_off(&k).into_values().collect(),
                Err(_) => Vec::new(),
            },
        };
        if let ChunkList::Dense(v) = self {
            while v.last() == Some(&0) {
                v.pop();
            }
        }
        self.densify_if_full();
        freed
    }

    /// Every chunk that exists, as (index, id), in index order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (u32, u64)> + '_> {
        match self {
            ChunkList::Dense(v) => Box::new(
                v.iter()
                    .enumerate()
                    .filter(|(_, &id)| id != 0)
                    .filter_map(|(i, &id)| Some((u32::try_from(i).ok()?, id))),
            ),
            ChunkList::Sparse(m) => Box::new(m.iter().map(|(&i, &id)| (i, id))),
        }
    }

    /// Every id, for freeing a whole file.
    pub fn into_ids(self) -> Vec<u64> {
        match self {
            ChunkList::Dense(v) => v.into_iter().filter(|&id| id != 0).collect(),
            ChunkList::Sparse(m) => m.into_values().collect(),
        }
    }

    fn to_map(&self) -> BTreeMap<u32, u64> {
        self.iter().collect()
    }

    /// A sparse table whose holes became few turns dense (O(log n) to check).
    fn densify_if_full(&mut self) {
        let ChunkList::Sparse(m) = self else { return };
        let end = m.last_key_value().map_or(0, |(&i, _)| i as usize + 1);
        if end <= 2 * m.len() + DENSE_SLACK {
            let mut v = vec![0; end];
            for (&i, &id) in m.iter() {
                v[i as usize] = id;
            }
            *self = ChunkList::Dense(v);
        }
    }

    /// Build from a dense list of ids (0 = hole), for tests.
    #[cfg(test)]
    pub fn from_ids(ids: &[u64]) -> ChunkList {
        let mut list = ChunkList::default();
        for (i, &id) in ids.iter().enumerate() {
            if let (Ok(i), true) = (u32::try_from(i), id != 0) {
                list.set(i, id);
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_far_past_the_end_costs_one_entry() {
        let mut l = ChunkList::default();
        assert_eq!(l.set(0, 5), 0);
        assert_eq!(l.set(u32::MAX - 1, 6), 0);
        assert!(matches!(l, ChunkList::Sparse(ref m) if m.len() == 2));
        assert_eq!(l.get(u32::MAX - 1), 6);
        assert_eq!(l.get(7), 0);
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![(0, 5), (u32::MAX - 1, 6)]);
    }

    #[test]
    fn sequential_files_stay_dense_and_the_form_follows_the_contents() {
        let mut l = ChunkList::default();
        for i in 0..100 {
            l.set(i, 1000 + i as u64);
        }
        assert!(matches!(l, ChunkList::Dense(ref v) if v.len() == 100));
        // A far chunk makes it sparse; cutting it off makes it dense again.
        l.set(1_000_000, 7);
        assert!(matches!(l, ChunkList::Sparse(_)));
        assert_eq!(l.truncate(100), vec![7]);
        assert!(matches!(l, ChunkList::Dense(ref v) if v.len() == 100));
        // A sparse table filled in becomes dense.
        let mut s = ChunkList::default();
        s.set(50, 1);
        assert!(matches!(s, ChunkList::Sparse(_)));
        for i in 0..50 {
            s.set(i, 2);
        }
        assert!(matches!(s, ChunkList::Dense(_)));
    }

    #[test]
    fn truncate_returns_only_real_chunks_and_drops_trailing_holes() {
        let mut l = ChunkList::from_ids(&[1, 0, 2, 0, 3]);
        assert_eq!(l.truncate(3), vec![3]);
        assert_eq!(l, ChunkList::from_ids(&[1, 0, 2]));
        assert_eq!(l.truncate(1), vec![2]);
        assert_eq!(l, ChunkList::from_ids(&[1]));
        assert!(l.truncate(u64::MAX).is_empty());
        assert_eq!(l.truncate(0), vec![1]);
        assert_eq!(l, ChunkList::default());
        assert_eq!(ChunkList::from_ids(&[0, 0]), ChunkList::default());
    }

    #[test]
    fn a_cleared_index_is_a_hole_and_the_form_stays_canonical() {
        let mut l = ChunkList::from_ids(&[1, 2, 3]);
        assert_eq!(l.clear(2), 3);
        assert_eq!(l, ChunkList::from_ids(&[1, 2]), "no trailing hole kept");
        assert_eq!(l.clear(0), 1);
        assert_eq!(l, ChunkList::from_ids(&[0, 2]));
        assert_eq!(l.clear(9), 0);
        let mut s = ChunkList::default();
        s.set(1_000_000, 4);
        assert_eq!(s.clear(1_000_000), 4);
        assert_eq!(s, ChunkList::default());
    }

    #[test]
    fn replacing_an_id_returns_the_old_one() {
        let mut l = ChunkList::from_ids(&[1, 2]);
        assert_eq!(l.set(1, 9), 2);
        assert_eq!(l.into_ids(), vec![1, 9]);
    }
}
