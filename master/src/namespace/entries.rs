//! Adding and removing directory entries, keeping the parent's link count (2 + its
//! subdirectories) and times right. Callers validate first; these only mutate.

use proto::meta::{Ino, Timestamp};

use super::Namespace;

impl Namespace {
    /// Add `name` → `child` to directory `parent`. A subdirectory adds one link to the parent
    /// (its ".."). The parent's mtime and ctime become `now`.
    pub(super) fn dir_insert(&mut self, parent: Ino, name: &[u8], child: Ino, child_is_dir: bool, now: Timestamp) {
        self.with_inode(parent, |p| {
            if let Some(d) = p.as_dir_mut() {
                d.insert(name, child);
            }
            if child_is_dir {
                p.nlink = p.nlink.saturating_add(1);
            }
            p.touch(now);
        });
    }

    /// Remove `name` from directory `parent`, the reverse of [`Namespace::dir_insert`].
    pub(super) fn dir_remove(&mut self, parent: Ino, name: &[u8], child_is_dir: bool, now: Timestamp) {
        self.with_inode(parent, |p| {
            if let Some(d) = p.as_dir_mut() {
                d.remove(name);
            }
            if child_is_dir {
                p.nlink = p.nlink.saturating_sub(1);
            }
            p.touch(now);
        });
    }

    /// Point the existing `name` of `parent` at `child`, keeping its cookie.
    pub(super) fn dir_repoint(&mut self, parent: Ino, name: &[u8], child: Ino, now: Timestamp) {
        self.with_inode(parent, |p| {
            if let Some(d) = p.as_dir_mut() {
                d.repoint(name, child);
            }
            p.touch(now);
        });
    }

    /// Record that directory `dir` now hangs in `parent` under `name`.
    pub(super) fn set_dir_location(&mut self, dir: Ino, parent: Ino, name: &[u8]) {
        self.with_inode(dir, |i| {
            if let Some(d) = i.as_dir_mut() {
                d.parent = parent;
                d.name = name.to_vec();
            }
        });
    }

    /// True when `ancestor` is `ino` or one of the directories above it.
    pub(super) fn is_ancestor_or_self(&self, ancestor: Ino, ino: Ino) -> bool {
        let mut cur = ino;
        // Each step goes one level up; the root is its own parent. The bound only guards
        // against a corrupted tree looping forever.
        for _ in 0..=self.inodes.len() {
            if cur == ancestor {
                return true;
            }
            match self.inodes.get(&cur).and_then(|i| i.as_dir()) {
                Some(d) if d.parent != cur => cur = d.parent,
                _ => return false,
            }
        }
        false
    }
}
