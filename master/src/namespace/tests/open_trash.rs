//! Open references, sustained inodes, the trash, truncation and freed chunks.

use super::*;
use proto::meta::CHUNK_SIZE;

#[test]
fn an_unlinked_open_file_stays_readable_by_inode_until_its_release() {
    let mut fs = Fs::without_trash();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[11, 0, 12]);
    fs.truncate(f, 3 * CHUNK_SIZE).unwrap();
    fs.unlink(ROOT, "f").unwrap();
    assert_eq!(fs.lookup(ROOT, "f"), Err(Errno::ENOENT), "no name any more");
    let a = fs.getattr(f).unwrap();
    assert_eq!((a.nlink, a.ctime), (0, t(fs.now)));
    assert!(fs.is_sustained(f));
    assert!(fs.ns.chunks_to_delete().is_empty(), "data stays while open");
    // Still usable through the inode: attributes change, xattrs, another open.
    fs.setxattr(f, "user.k", b"v", XattrMode::Set).unwrap();
    fs.open(f, O_RDONLY).unwrap();
    fs.release(f).unwrap();
    assert!(fs.getattr(f).is_ok(), "one open left");
    fs.release(f).unwrap();
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
    assert!(!fs.is_sustained(f));
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [11, 12]);
    assert!(fs.ns.chunks.is_empty(), "chunk table entries leave with the file");
}

#[test]
fn an_open_file_deleted_with_a_trash_time_goes_to_the_trash_and_stays_after_release() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[5]);
    fs.unlink(ROOT, "f").unwrap();
    assert!(fs.in_trash(f) && !fs.is_sustained(f), "as MooseFS: the trash, open or not");
    fs.release(f).unwrap();
    assert!(fs.in_trash(f) && fs.getattr(f).is_ok(), "still there to restore");
    assert!(!fs.ns.chunks_to_delete().contains(&5));
}

#[test]
fn opens_are_counted_per_session_and_release_session_drops_them_all() {
    let mut fs = Fs::without_trash();
    let f = fs.create(ROOT, "f").unwrap().ino; // session 1
    fs.open(f, O_RDONLY).unwrap(); // session 1, twice
    fs.in_session(2, |fs| fs.open(f, O_RDWR)).unwrap();
    fs.unlink(ROOT, "f").unwrap();
    fs.ns.release_session(1, t(fs.now));
    assert!(fs.getattr(f).is_ok(), "session 2 still has it open");
    // Releasing in a session that holds nothing is a harmless no-op.
    fs.release(f).unwrap();
    assert!(fs.getattr(f).is_ok());
    fs.ns.release_session(2, t(fs.now));
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
    assert!(fs.ns.open_refs.is_empty() && fs.ns.open_by_inode.is_empty());
}

#[test]
fn release_without_an_open_never_fails() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    let before = fs.ns.clone();
    fs.release(f).unwrap();
    fs.release(999).unwrap();
    assert!(fs.ns == before);
}

#[test]
fn release_session_of_a_file_still_named_keeps_it() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.ns.release_session(1, t(fs.now));
    assert_eq!(fs.lookup(ROOT, "f").unwrap().ino, f);
    assert!(fs.ns.open_refs.is_empty());
}

#[test]
fn deleted_files_wait_in_the_trash_until_purged_after_expiry() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.set_trash_time(d, 100, false).unwrap();
    let f = fs.file(d, "f").unwrap().ino;
    fs.give_chunks(f, &[3, 4]);
    fs.truncate(f, 2 * CHUNK_SIZE).unwrap();
    fs.unlink(d, "f").unwrap();
    let deleted_at = fs.now;
    assert!(fs.in_trash(f));
    assert_eq!(fs.ns.trash[&f].path, b"d/f");
    assert_eq!(fs.ns.next_trash_expiry(), Some(t(deleted_at + 100)));
    assert_eq!(fs.getattr(f).unwrap().nlink, 0, "getattr still works in the trash");
    assert_eq!(fs.lookup(d, "f"), Err(Errno::ENOENT));
    assert_eq!(fs.statfs().trash_bytes, 2 * CHUNK_SIZE);

    assert_eq!(fs.ns.purge_trash(t(deleted_at + 99)), 0, "not expired yet");
    assert!(fs.in_trash(f));
    assert_eq!(fs.ns.purge_trash(t(deleted_at + 100)), 1);
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
    assert_eq!(fs.ns.next_trash_expiry(), None);
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [3, 4]);
    assert_eq!(fs.statfs().trash_bytes, 0);
}

#[test]
fn purge_takes_only_expired_entries_in_expiry_order() {
    let mut fs = Fs::new();
    let long = fs.mkdir(ROOT, "long").unwrap().ino;
    fs.set_trash_time(long, 1000, false).unwrap();
    fs.set_trash_time(ROOT, 10, false).unwrap();
    let a = fs.file(long, "a").unwrap().ino;
    let b = fs.file(ROOT, "b").unwrap().ino;
    fs.unlink(long, "a").unwrap();
    fs.unlink(ROOT, "b").unwrap();
    let now = fs.now;
    assert_eq!(fs.ns.next_trash_expiry(), Some(t(now + 10)));
    assert_eq!(fs.ns.purge_trash(t(now + 10)), 1);
    assert!(fs.in_trash(a) && fs.getattr(b).is_err());
    assert_eq!(fs.ns.next_trash_expiry(), Some(t(now - 1 + 1000)));
}

#[test]
fn an_expired_trash_entry_still_open_is_freed_only_after_its_release() {
    let mut fs = Fs::new();
    fs.set_trash_time(ROOT, 10, false).unwrap();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.unlink(ROOT, "f").unwrap();
    assert!(fs.in_trash(f));
    fs.open(f, O_RDONLY).unwrap(); // e.g. reopened through /proc/self/fd
    let expiry = fs.ns.next_trash_expiry().unwrap();
    assert_eq!(fs.ns.purge_trash(expiry), 1, "it leaves the trash");
    assert!(fs.getattr(f).is_ok(), "but stays while open");
    assert!(fs.is_sustained(f));
    assert_eq!(fs.ns.next_trash_expiry(), None, "no purge loop on an open entry");
    fs.release(f).unwrap();
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
}

#[test]
fn a_trashed_file_released_before_expiry_stays_in_the_trash() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.unlink(ROOT, "f").unwrap();
    fs.open(f, O_RDONLY).unwrap();
    fs.release(f).unwrap();
    assert!(fs.in_trash(f) && fs.getattr(f).is_ok());
}

#[test]
fn trash_time_zero_frees_at_once() {
    let mut fs = Fs::without_trash();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[9]);
    fs.unlink(ROOT, "f").unwrap();
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
    assert_eq!(fs.ns.next_trash_expiry(), None);
    assert!(fs.ns.chunks_to_delete().contains(&9));
}

#[test]
fn statfs_counts_inodes_trash_and_sustained_bytes() {
    let mut fs = Fs::new();
    let kept = fs.create(ROOT, "kept").unwrap().ino;
    fs.truncate(kept, 100).unwrap();
    let trashed = fs.file(ROOT, "trashed").unwrap().ino;
    fs.truncate(trashed, 30).unwrap();
    fs.set_trash_time(kept, 0, false).unwrap(); // open and no trash time: sustained
    fs.unlink(ROOT, "kept").unwrap();
    fs.unlink(ROOT, "trashed").unwrap();
    let s = fs.statfs();
    assert_eq!((s.inodes, s.trash_bytes, s.sustained_bytes), (3, 30, 100));
    assert_eq!((s.total_bytes, s.avail_bytes), (0, 0), "filled by the layer above");
}

#[test]
fn truncate_down_frees_whole_chunks_past_the_end_only() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[1, 0, 2, 3]);
    fs.truncate(f, 4 * CHUNK_SIZE).unwrap();
    fs.truncate(f, CHUNK_SIZE * 2 + 1).unwrap();
    assert_eq!(fs.chunks_of(f), [1, 0, 2], "chunk 2 is cut in part: kept");
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [3]);
    fs.truncate(f, CHUNK_SIZE).unwrap();
    assert_eq!(fs.chunks_of(f), [1]);
    assert!(fs.ns.chunks_to_delete().contains(&2));
    fs.truncate(f, 10 * CHUNK_SIZE).unwrap();
    assert_eq!(fs.chunks_of(f), [1], "growing adds a hole");
    assert_eq!(fs.getattr(f).unwrap().size, 10 * CHUNK_SIZE);
    fs.truncate(f, 0).unwrap();
    assert!(fs.chunks_of(f).is_empty());
    assert_eq!(fs.ns.chunks.len(), 0);
}

#[test]
fn truncate_changes_size_mtime_and_ctime_but_same_size_changes_nothing() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    let a = fs.truncate(f, 123).unwrap();
    assert_eq!((a.size, a.mtime, a.ctime), (123, t(fs.now), t(fs.now)));
    let b = fs.truncate(f, 123).unwrap();
    assert_eq!((b.mtime, b.ctime), (a.mtime, a.ctime));
}

#[test]
fn truncate_errors() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let l = fs.symlink(ROOT, "l", b"x").unwrap().ino;
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.truncate(d, 0), Err(Errno::EISDIR));
    assert_eq!(fs.truncate(l, 0), Err(Errno::EINVAL));
    assert_eq!(fs.truncate(999, 0), Err(Errno::ENOENT));
    assert_eq!(fs.truncate(f, proto::meta::MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
    fs.truncate(f, proto::meta::MAX_FILE_SIZE).unwrap();
}

#[test]
fn open_with_o_trunc_empties_the_file_and_updates_mtime() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[21, 22]);
    fs.truncate(f, CHUNK_SIZE + 5).unwrap();
    let a = fs.open(f, O_WRONLY | O_TRUNC).unwrap();
    assert_eq!((a.size, a.mtime, a.ctime), (0, t(fs.now), t(fs.now)));
    assert!(fs.chunks_of(f).is_empty());
    assert!(fs.ns.chunks_to_delete().contains(&21) && fs.ns.chunks_to_delete().contains(&22));
    // Even an empty file gets new times (Linux does the same).
    let b = fs.open(f, O_RDWR | O_TRUNC).unwrap();
    assert_eq!(b.mtime, t(fs.now));
}

#[test]
fn open_errors() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    assert_eq!(fs.open(999, O_RDONLY), Err(Errno::ENOENT));
    assert_eq!(fs.open(d, O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(fs.open(d, O_RDWR), Err(Errno::EISDIR));
    assert_eq!(fs.open(d, O_RDONLY | O_TRUNC), Err(Errno::EISDIR));
    fs.open(d, O_RDONLY).unwrap();
}

#[test]
fn an_open_removed_directory_is_sustained_until_released() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.open(d, O_RDONLY).unwrap();
    fs.rmdir(ROOT, "d").unwrap();
    assert!(fs.is_sustained(d));
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 2);
    let dots = fs.readdir(d, 0, 10, true).unwrap();
    assert_eq!(dots.len(), 2);
    fs.ns.release_session(1, t(fs.now));
    assert_eq!(fs.getattr(d), Err(Errno::ENOENT));
}
