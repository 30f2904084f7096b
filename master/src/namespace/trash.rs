//! What becomes of an inode whose last name is gone: sustained while open, in the trash
//! until its expiry (regular files with a trash time), or freed (its chunks go to
//! `chunks_to_delete`).

use proto::meta::{Ino, Timestamp, ROOT_INODE};
use serde::{Deserialize, Serialize};

use super::inode::Body;
use super::Namespace;

/// A deleted file kept in the trash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashEntry {
    /// Best-effort path it had when deleted, relative to the root ("dir/file"), as the
    /// MooseFS meta tree shows it.
    pub path: Vec<u8>,
    /// When it may be purged.
    pub expires: Timestamp,
}

impl Namespace {
    /// One name of `ino` (`name` in `parent`, already removed from the directory) is gone:
    /// the link count drops (a directory's to 0) and ctime becomes `now`. At 0 links the
    /// inode is sustained, trashed or freed.
    pub(super) fn drop_name(&mut self, ino: Ino, parent: Ino, name: &[u8], now: Timestamp) {
        let mut orphaned = false;
        self.with_inode(ino, |i| {
            i.nlink = if i.is_dir() { 0 } else { i.nlink.saturating_sub(1) };
            i.ctime = now;
            orphaned = i.nlink == 0;
        });
        if orphaned {
            self.orphan(ino, parent, name, now);
        }
    }

    /// `ino` has no name left. A regular file with a trash time → trash (open or not, as
    /// MooseFS: a file closed a moment later must still be there to restore); else open →
    /// sustained until its last release; anything else → freed.
    fn orphan(&mut self, ino: Ino, parent: Ino, name: &[u8], now: Timestamp) {
        let Some(inode) = self.inodes.get(&ino) else {
            return;
        };
        if inode.is_file() && inode.trash_time > 0 {
            let expires = now.plus_secs(u64::from(inode.trash_time));
            let path = self.trash_path(parent, name);
            self.trash.insert(ino, TrashEntry { path, expires });
            self.trash_by_expiry.insert((expires, ino));
        } else if self.is_open(ino) {
            self.sustained.insert(ino);
        } else {
            self.free_inode(ino);
        }
    }

    /// Forget `ino` for good: its chunks move to `chunks_to_delete`.
    pub(super) fn free_inode(&mut self, ino: Ino) {
        let Some(inode) = self.inodes.remove(&ino) else {
            return;
        };
        if inode.is_dir() {
            self.dirs = self.dirs.saturating_sub(1);
        }
        if let Body::File { chunks } = inode.body {
            self.forget_chunks(chunks.into_ids());
        }
        if let Some(e) = self.trash.remove(&ino) {
            self.trash_by_expiry.remove(&(e.expires, ino));
        }
        self.sustained.remove(&ino);
        self.forget_quota(ino);
        self.locks.forget_inode(ino);
    }

    /// A file let go of these chunks: a shared one loses a reference; one no file refers to
    /// any more leaves the chunk table for `chunks_to_delete`.
    pub(super) fn forget_chunks(&mut self, chunks: impl IntoIterator<Item = u64>) {
        for id in chunks.into_iter().filter(|&id| id != 0) {
            if let Some(extra) = self.shared.get_mut(&id) {
                *extra -= 1;
                if *extra == 0 {
                    self.shared.remove(&id);
                }
                continue;
            }
            self.chunks.remove(&id);
            self.chunks_to_delete.insert(id);
        }
    }

    /// Free a sustained inode once nobody has it open any more.
    pub(super) fn free_if_unreferenced(&mut self, ino: Ino) {
        if self.sustained.contains(&ino) && !self.is_open(ino) {
            self.free_inode(ino);
        }
    }

    /// Remove trash entries expired at `now`; open ones become sustained instead of freed.
    /// Returns how many left the trash.
    pub(super) fn purge_expired(&mut self, now: Timestamp) -> u64 {
        let expired: Vec<(Timestamp, Ino)> = self.trash_by_expiry.range(..=(now, Ino::MAX)).copied().collect();
        for &(expires, ino) in &expired {
            self.trash_by_expiry.remove(&(expires, ino));
            self.trash.remove(&ino);
            if self.is_open(ino) {
                self.sustained.insert(ino);
            } else {
                self.free_inode(ino);
            }
        }
        expired.len() as u64
    }

    /// Bytes held by files in the trash and by sustained inodes.
    pub(super) fn trash_and_sustained_bytes(&self) -> (u64, u64) {
        let size = |ino: &Ino| self.inodes.get(ino).map_or(0, |i| i.size);
        let trash = self.trash.keys().map(size).sum();
        let sustained = self.sustained.iter().map(size).sum();
        (trash, sustained)
    }

    /// "a/b/name" for `name` in directory `parent`, by walking up to the root.
    fn trash_path(&self, parent: Ino, name: &[u8]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = vec![name];
        let mut cur = parent;
        // The bound only guards against a corrupted tree looping forever.
        for _ in 0..self.inodes.len() {
            if cur == ROOT_INODE {
                break;
            }
            let Some(d) = self.inodes.get(&cur).and_then(|i| i.as_dir()) else {
                break;
            };
            parts.push(&d.name);
            cur = d.parent;
        }
        parts.reverse();
        parts.join(&b'/')
    }
}
