//! A directory's entries, with stable readdir cookies.
//!
//! Each entry gets a cookie when it is inserted, from a per-directory counter that never goes
//! back: listing "entries with cookie > offset" in cookie order neither skips nor repeats an
//! entry that survives concurrent inserts and removes.

use std::collections::BTreeMap;

use proto::meta::Ino;
use serde::{Deserialize, Serialize};

/// Cookie of the "." entry.
pub const DOT_COOKIE: u64 = 1;
/// Cookie of the ".." entry.
pub const DOTDOT_COOKIE: u64 = 2;
/// Cookie of the first real entry of a directory.
pub const FIRST_ENTRY_COOKIE: u64 = 3;

/// One name in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub ino: Ino,
    /// Readdir position of this entry, unique within the directory.
    pub cookie: u64,
}

/// The entries of one directory and where it hangs in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    /// Name → inode and cookie.
    pub entries: BTreeMap<Vec<u8>, Slot>,
    /// Cookie → name, the readdir order.
    pub by_cookie: BTreeMap<u64, Vec<u8>>,
    /// Cookie the next inserted entry gets.
    pub next_cookie: u64,
    /// The directory holding this one (the root's parent is the root).
    pub parent: Ino,
    /// This directory's name in its parent (empty for the root), for trash paths.
    pub name: Vec<u8>,
}

impl Dir {
    /// An empty directory inside `parent`, named `name` there.
    pub fn new(parent: Ino, name: Vec<u8>) -> Self {
        Dir { entries: BTreeMap::new(), by_cookie: BTreeMap::new(), next_cookie: FIRST_ENTRY_COOKIE, parent, name }
    }

    /// The inode named `name`, if any.
    pub fn get(&self, name: &[u8]) -> Option<Ino> {
        self.entries.get(name).map(|s| s.ino)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add `name` → `ino` with a fresh cookie. The caller made sure the name is free.
    pub fn insert(&mut self, name: &[u8], ino: Ino) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        self.entries.insert(name.to_vec(), Slot { ino, cookie });
        self.by_cookie.insert(cookie, name.to_vec());
    }

    /// Remove `name`; returns the inode it named.
    pub fn remove(&mut self, name: &[u8]) -> Option<Ino> {
        let slot = self.entries.remove(name)?;
        self.by_cookie.remove(&slot.cookie);
        Some(slot.ino)
    }

    /// Point an existing `name` at another inode, keeping its cookie (`RENAME_EXCHANGE`).
    pub fn repoint(&mut self, name: &[u8], ino: Ino) {
        if let Some(slot) = self.entries.get_mut(name) {
            slot.ino = ino;
        }
    }
}
