//! Adding and removing directory entries, keeping the parent's link count (2 + its
//! subdirectories) and times right. Callers validate first; these only mutate.

use proto::meta::{Ino, Timestamp};

use super::{guard, Namespace};

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
            guard::unmark_snapshot(p);
        });
        if !child_is_dir {
            self.add_parent(child, parent);
        }
        self.charge_name(parent, child, true, now);
    }

    /// Remove `name` from directory `parent`, the reverse of [`Namespace::dir_insert`].
    pub(super) fn dir_remove(&mut self, parent: Ino, name: &[u8], child_is_dir: bool, now: Timestamp) {
        if let Some(child) = self.inodes.get(&parent).and_then(|p| p.as_dir()).and_then(|d| d.get(name)) {
            self.charge_name(parent, child, false, now);
        }
        let mut removed = None;
        self.with_inode(parent, |p| {
            if let Some(d) = p.as_dir_mut() {
                removed = d.remove(name);
            }
            if child_is_dir {
                p.nlink = p.nlink.saturating_sub(1);
            }
            p.touch(now);
            guard::unmark_snapshot(p);
        });
        if let (Some(child), false) = (removed, child_is_dir) {
            self.remove_parent(child, parent);
        }
    }

    /// Point the existing `name` of `parent` at `child`, keeping its cookie.
    pub(super) fn dir_repoint(&mut self, parent: Ino, name: &[u8], child: Ino, now: Timestamp) {
        if let Some(old) = self.inodes.get(&parent).and_then(|p| p.as_dir()).and_then(|d| d.get(name)) {
            self.charge_name(parent, old, false, now);
        }
        self.charge_name(parent, child, true, now);
        let mut old = None;
        self.with_inode(parent, |p| {
            if let Some(d) = p.as_dir_mut() {
                old = d.get(name);
                d.repoint(name, child);
            }
            p.touch(now);
            guard::unmark_snapshot(p);
        });
        if let Some(old) = old.filter(|&o| !self.inodes.get(&o).is_some_and(|i| i.is_dir())) {
            self.remove_parent(old, parent);
        }
        if !self.inodes.get(&child).is_some_and(|i| i.is_dir()) {
            self.add_parent(child, parent);
        }
    }

    /// A name of non-directory `child` now lives in `parent`.
    fn add_parent(&mut self, child: Ino, parent: Ino) {
        let mut extra = false;
        self.with_inode(child, |i| {
            if i.parent == 0 {
                i.parent = parent;
            } else {
                extra = true;
            }
        });
        if extra {
            self.extra_parents.entry(child).or_default().push(parent);
        }
    }

    /// One name of non-directory `child` in `parent` is gone.
    fn remove_parent(&mut self, child: Ino, parent: Ino) {
        if let Some(list) = self.extra_parents.get_mut(&child) {
            if let Some(pos) = list.iter().position(|&p| p == parent) {
                list.swap_remove(pos);
                if list.is_empty() {
                    self.extra_parents.remove(&child);
                }
                return;
            }
        }
        // The name was the one in `Inode::parent`: another name (if any) takes its place.
        let next = match self.extra_parents.get_mut(&child) {
            Some(list) => {
                let p = list.pop();
                if list.is_empty() {
                    self.extra_parents.remove(&child);
                }
                p
            }
            None => None,
        };
        self.with_inode(child, |i| {
            if i.parent == parent {
                i.parent = next.unwrap_or(0);
            }
        });
    }

    /// True when the session root `root` (a directory) holds `ino`: `ino` is `root` or below
    /// it, or a non-directory with a name in a directory below it.
    pub fn is_within(&self, root: Ino, ino: Ino) -> bool {
        let Some(inode) = self.inodes.get(&ino) else {
            return false;
        };
        if inode.is_dir() {
            return self.is_ancestor_or_self(root, ino);
        }
        let extra = self.extra_parents.get(&ino).map(Vec::as_slice).unwrap_or(&[]);
        std::iter::once(inode.parent)
            .chain(extra.iter().copied())
            .filter(|&p| p != 0)
            .any(|p| self.is_ancestor_or_self(root, p))
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
