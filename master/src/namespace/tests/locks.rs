//! File locks across mounts: conflicts between owners and sessions, ranges that split, what
//! releases them, and the snapshot section.

use super::*;
use proto::lock::{LockHolder, LockKind};

impl Fs {
    fn lock(&mut self, session: u64, ino: Ino, owner: u64, kind: LockKind, start: u64, end: u64) -> Result<(), Errno> {
        self.in_session(session, |fs| done(fs.write(WriteOp::SetLock { ino, owner, kind, start, end, pid: 42 })))
    }

    fn holder(&self, session: u64, ino: Ino, owner: u64, write: bool, start: u64, end: u64) -> Option<LockHolder> {
        match self.ns.get_lock(session, ino, owner, write, (start, end)).unwrap() {
            Reply::Lock(h) => h,
            other => panic!("{other:?}"),
        }
    }
}

const ALL: u64 = u64::MAX;

#[test]
fn owners_conflict_by_range_and_kind() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.lock(1, f, 7, LockKind::Write, 0, 99), Ok(()));
    assert_eq!(fs.lock(2, f, 7, LockKind::Write, 50, 60), Err(Errno::EAGAIN), "same owner id, another session");
    assert_eq!(fs.lock(1, f, 8, LockKind::Read, 0, 0), Err(Errno::EAGAIN), "another owner of the same session");
    assert_eq!(fs.lock(2, f, 7, LockKind::Write, 100, ALL), Ok(()), "a range beside it");
    assert_eq!(fs.holder(2, f, 9, false, 10, 10), Some(LockHolder { write: true, start: 0, end: 99, pid: 42 }));
    // Downgrade to read: readers share it, a writer still waits.
    assert_eq!(fs.lock(1, f, 7, LockKind::Read, 0, 99), Ok(()));
    assert_eq!(fs.lock(3, f, 1, LockKind::Read, 0, 10), Ok(()));
    assert_eq!(fs.lock(3, f, 1, LockKind::Write, 0, 10), Err(Errno::EAGAIN), "the other reader is in the way");
    // Unlocking the middle splits the range.
    fs.lock(1, f, 7, LockKind::Unlock, 20, 29).unwrap();
    fs.lock(3, f, 1, LockKind::Unlock, 0, ALL).unwrap();
    assert_eq!(fs.lock(4, f, 1, LockKind::Write, 20, 29), Ok(()));
    assert_eq!(fs.lock(4, f, 1, LockKind::Write, 19, 19), Err(Errno::EAGAIN));
    assert_eq!(fs.lock(4, f, 1, LockKind::Write, 5, 2), Err(Errno::EINVAL));
}

#[test]
fn locks_go_with_their_file_their_owner_and_their_session() {
    let mut fs = Fs::without_trash();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.lock(1, f, 7, LockKind::Write, 0, ALL).unwrap();
    fs.lock(2, f, 3, LockKind::Write, 0, ALL).unwrap_err();
    fs.in_session(1, |fs| done(fs.write(WriteOp::ReleaseLocks { ino: f, owner: 7 }))).unwrap();
    fs.lock(2, f, 3, LockKind::Write, 0, ALL).unwrap();
    // The session closes: its locks go.
    fs.ns.release_session(2, t(fs.now));
    fs.lock(1, f, 7, LockKind::Write, 0, ALL).unwrap();
    let section = fs.ns.lock_section();
    assert_eq!(section.len(), 1);
    let mut back = fs.ns.clone();
    back.restore_lock_section(Vec::new());
    back.restore_lock_section(section);
    assert!(back == fs.ns, "a snapshot keeps every lock");
    // The file goes: so do its locks.
    fs.in_session(1, |fs| fs.release(f)).unwrap();
    fs.unlink(ROOT, "f").unwrap();
    assert!(fs.ns.lock_section().is_empty());
}
