//! File locks held across mounts (`flock`, `fcntl` byte-range locks), kept by the masters so
//! every mount sees them and they survive a leader change. A lock belongs to a client session
//! and, within it, to the kernel's lock owner (an open file for `flock`, a process's file table
//! for `fcntl`); it goes when its owner unlocks, when the owner's file is closed, or with the
//! session.

use serde::{Deserialize, Serialize};

/// What a lock request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockKind {
    /// Shared (`F_RDLCK`, `LOCK_SH`).
    Read,
    /// Exclusive (`F_WRLCK`, `LOCK_EX`).
    Write,
    /// Release the range (`F_UNLCK`, `LOCK_UN`).
    Unlock,
}

/// A lock that stands in a requester's way (`F_GETLK`'s answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub write: bool,
    /// First and last byte (inclusive; `u64::MAX` for "to the end").
    pub start: u64,
    pub end: u64,
    /// The holder's process id, as its mount gave it (0 when unknown).
    pub pid: u32,
}

/// Most locks one session may hold at once (ENOLCK beyond): no client grows the lock table
/// without bound.
pub const MAX_LOCKS_PER_SESSION: usize = 10_000;
