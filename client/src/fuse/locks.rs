//! `fcntl` and `flock` locks held by the masters, so every mount sees them and a leader change
//! keeps them. A lock waits (`F_SETLKW`, `flock` without `LOCK_NB`) by asking again: first a
//! read of what is in the way (no log entry), then the lock itself once nothing is, with the
//! pause between tries growing to [`MAX_PAUSE`], so a released lock is taken within that.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use proto::client::{ReadOp, Reply, WriteOp};
use proto::lock::{LockHolder, LockKind};
use proto::meta::{Creds, Ino};
use proto::Errno;

use super::shared::{errno, Shared, R};

/// First pause of a waiting lock.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause of a waiting lock: how late at most a waiter sees a release.
pub const MAX_PAUSE: Duration = Duration::from_millis(100);

/// (inode, owner) pairs that took a lock through this mount.
#[derive(Default)]
pub struct LockOwners(Mutex<HashSet<(Ino, u64)>>);

impl LockOwners {
    fn note(&self, ino: Ino, owner: u64) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: past this many, forgetting one only costs an unneeded release later.
        if set.len() > 100_000 {
            set.clear();
        }
        set.insert((ino, owner));
    }

    /// True (and forgotten) when `owner` took a lock on `ino` through this mount.
    pub fn take(&self, ino: Ino, owner: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&(ino, owner))
    }
}

/// One lock request: `kind` on bytes `range` (inclusive) of `ino` for the kernel's `owner`.
#[derive(Clone, Copy, Debug)]
pub struct LockAsk {
    pub ino: Ino,
    pub owner: u64,
    pub kind: LockKind,
    pub range: (u64, u64),
    pub pid: u32,
}

/// The kind of a FUSE lock request (`F_RDLCK`, `F_WRLCK`, `F_UNLCK`).
pub fn kind_of(typ: i32) -> R<LockKind> {
    match typ {
        libc::F_RDLCK => Ok(LockKind::Read),
        libc::F_WRLCK => Ok(LockKind::Write),
        libc::F_UNLCK => Ok(LockKind::Unlock),
        _ => Err(Errno::EINVAL),
    }
}

impl Shared {
    /// `F_GETLK`: the lock in the way, if any.
    pub(super) async fn get_lock(
        &self,
        creds: &Creds,
        ino: Ino,
        owner: u64,
        write: bool,
        range: (u64, u64),
    ) -> R<Option<LockHolder>> {
        let op = ReadOp::GetLock { ino, owner, write, start: range.0, end: range.1 };
        match self.io.meta.read(creds, op).await.map_err(errno)? {
            Reply::Lock(h) => Ok(h),
            other => {
                tracing::warn!(?other, "expected a lock answer");
                Err(Errno::EIO)
            }
        }
    }

    /// `F_SETLK` / `F_SETLKW` / `flock`: take, change or release; with `wait`, until granted.
    pub(super) async fn set_lock(&self, creds: &Creds, ask: LockAsk, wait: bool) -> R<()> {
        let LockAsk { ino, owner, kind, range, pid } = ask;
        let op = WriteOp::SetLock { ino, owner, kind, start: range.0, end: range.1, pid };
        if kind != LockKind::Unlock {
            self.lock_owners.note(ino, owner);
        }
        let mut pause = FIRST_PAUSE;
        loop {
            match self.io.meta.write(creds, op.clone()).await.map_err(errno) {
                Err(Errno::EAGAIN) if wait => {}
                other => return other.map(|_| ()),
            }
            // Wait until nothing is in the way, asking with reads only.
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                if self.get_lock(creds, ino, owner, kind == LockKind::Write, range).await?.is_none() {
                    break;
                }
            }
        }
    }

    /// A file of `owner` closed: drop its locks on `ino` (call when
    /// [`LockOwners::take`] says it took some).
    pub(super) async fn release_locks(&self, creds: &Creds, ino: Ino, owner: u64) -> R<()> {
        self.io.meta.write(creds, WriteOp::ReleaseLocks { ino, owner }).await.map_err(errno).map(|_| ())
    }
}
