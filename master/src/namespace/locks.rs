//! File locks across mounts (`flock`, `fcntl`): a table of byte ranges by inode, each held by
//! a (session, owner). Applied from the log like every change, so every master holds the same
//! table and a new leader keeps every lock. Waiting for a lock is the mount's (it asks again);
//! here a request is granted or refused at once. Stored in a snapshot section of its own.

use std::collections::BTreeMap;

use proto::client::{OpResult, Reply};
use proto::lock::{LockHolder, LockKind, MAX_LOCKS_PER_SESSION};
use proto::meta::Ino;
use proto::Errno;
use serde::{Deserialize, Serialize};

use super::Namespace;

/// One held range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub session: u64,
    pub owner: u64,
    pub write: bool,
    pub start: u64,
    pub end: u64,
    pub pid: u32,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    fn mine(&self, session: u64, owner: u64) -> bool {
        self.session == session && self.owner == owner
    }
}

/// The lock section of a snapshot.
pub type LockSection = Vec<(Ino, Vec<Lock>)>;

/// Every held lock, by inode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockTable {
    by_inode: BTreeMap<Ino, Vec<Lock>>,
    /// Locks held per session (bounded by [`MAX_LOCKS_PER_SESSION`]).
    per_session: BTreeMap<u64, usize>,
}

impl LockTable {
    /// The first lock of another owner that a `write` (or read) lock on `start..=end` would
    /// conflict with.
    pub fn conflict(&self, ino: Ino, session: u64, owner: u64, write: bool, start: u64, end: u64) -> Option<&Lock> {
        self.by_inode
            .get(&ino)?
            .iter()
            .find(|l| !l.mine(session, owner) && l.overlaps(start, end) && (write || l.write))
    }

    /// Drop the owner's locks on `start..=end` of `ino`, keeping the parts outside.
    fn unlock(&mut self, ino: Ino, session: u64, owner: u64, start: u64, end: u64) {
        let Some(list) = self.by_inode.get_mut(&ino) else { return };
        let mut kept = Vec::with_capacity(list.len());
        for l in list.drain(..) {
            if !l.mine(session, owner) || !l.overlaps(start, end) {
                kept.push(l);
                continue;
            }
            if l.start < start {
                kept.push(Lock { end: start - 1, ..l });
            }
            if l.end > end {
                kept.push(Lock { start: end + 1, ..l });
            }
        }
        *list = kept;
        if list.is_empty() {
            self.by_inode.remove(&ino);
        }
        self.recount(session);
    }

    fn recount(&mut self, session: u64) {
        let n = self.by_inode.values().flatten().filter(|l| l.session == session).count();
        if n == 0 {
            self.per_session.remove(&session);
        } else {
            self.per_session.insert(session, n);
        }
    }

    /// Take (or change to) `kind` on `start..=end`: EAGAIN when another owner's lock is in the
    /// way, ENOLCK past the session's bound.
    pub fn set(&mut self, ino: Ino, lock: Lock, kind: LockKind) -> Result<(), Errno> {
        let Lock { session, owner, start, end, .. } = lock;
        if start > end {
            return Err(Errno::EINVAL);
        }
        if kind == LockKind::Unlock {
            self.unlock(ino, session, owner, start, end);
            return Ok(());
        }
        let write = kind == LockKind::Write;
        if self.conflict(ino, session, owner, write, start, end).is_some() {
            return Err(Errno::EAGAIN);
        }
        if self.per_session.get(&session).copied().unwrap_or(0) + 2 > MAX_LOCKS_PER_SESSION {
            return Err(Errno::ENOLCK);
        }
        self.unlock(ino, session, owner, start, end);
        self.by_inode.entry(ino).or_default().push(Lock { write, ..lock });
        self.recount(session);
        Ok(())
    }

    /// Drop every lock of `owner` in `session` on `ino`.
    pub fn release_owner(&mut self, ino: Ino, session: u64, owner: u64) {
        self.unlock(ino, session, owner, 0, u64::MAX);
    }

    /// Drop every lock of `session` (it closed or expired).
    pub fn release_session(&mut self, session: u64) {
        if self.per_session.remove(&session).is_none() {
            return;
        }
        self.by_inode.retain(|_, list| {
            list.retain(|l| l.session != session);
            !list.is_empty()
        });
    }

    /// Drop the locks of an inode that is gone.
    pub fn forget_inode(&mut self, ino: Ino) {
        if let Some(list) = self.by_inode.remove(&ino) {
            let sessions: std::collections::BTreeSet<u64> = list.iter().map(|l| l.session).collect();
            for s in sessions {
                self.recount(s);
            }
        }
    }

    pub fn section(&self) -> LockSection {
        self.by_inode.iter().map(|(ino, l)| (*ino, l.clone())).collect()
    }

    pub fn from_section(section: LockSection) -> LockTable {
        let mut t =
            LockTable { by_inode: section.into_iter().filter(|(_, l)| !l.is_empty()).collect(), ..Default::default() };
        let sessions: std::collections::BTreeSet<u64> = t.by_inode.values().flatten().map(|l| l.session).collect();
        for s in sessions {
            t.recount(s);
        }
        t
    }
}

impl Namespace {
    /// `fcntl(F_SETLK)` / `flock` of `owner` in `session` on `ino` (ENOENT when it is gone).
    pub(super) fn set_lock(
        &mut self,
        session: u64,
        ino: Ino,
        owner: u64,
        kind: LockKind,
        range: (u64, u64),
        pid: u32,
    ) -> OpResult {
        self.inode(ino)?;
        let lock = Lock { session, owner, write: false, start: range.0, end: range.1, pid };
        self.locks.set(ino, lock, kind)?;
        Ok(Reply::Done)
    }

    /// The file of `owner` closed: its locks on `ino` go.
    pub(super) fn release_locks(&mut self, session: u64, ino: Ino, owner: u64) -> OpResult {
        self.locks.release_owner(ino, session, owner);
        Ok(Reply::Done)
    }

    /// `fcntl(F_GETLK)`: what stands in the way, if anything.
    pub fn get_lock(&self, session: u64, ino: Ino, owner: u64, write: bool, range: (u64, u64)) -> OpResult {
        self.inode(ino)?;
        let holder = self.locks.conflict(ino, session, owner, write, range.0, range.1).map(|l| LockHolder {
            write: l.write,
            start: l.start,
            end: l.end,
            pid: l.pid,
        });
        Ok(Reply::Lock(holder))
    }

    /// Every lock, for a snapshot.
    pub fn lock_section(&self) -> LockSection {
        self.locks.section()
    }

    /// Put back the locks of a loaded snapshot.
    pub fn restore_lock_section(&mut self, section: LockSection) {
        self.locks = LockTable::from_section(section);
    }
}
