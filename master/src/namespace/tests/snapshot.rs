//! Snapshots (`mfsmakesnapshot`), appended chunks (`mfsappendchunks`), shared chunks' reference
//! counts and copy-on-write.

use super::*;
use proto::client::{ChunkSlice, SnapshotFlags};
use proto::meta::{FileType, CHUNK_SIZE};

const ALICE: u32 = 1000;
const BOB: u32 = 2000;

impl Fs {
    fn snapshot(&mut self, src: Ino, dst_parent: Ino, name: &str, flags: SnapshotFlags) -> Result<u64, Errno> {
        let op = WriteOp::Snapshot { src, dst_parent, name: name.into(), flags, umask: 0o022 };
        match self.write(op)? {
            Reply::Count(n) => Ok(n),
            other => panic!("snapshot answered {other:?}"),
        }
    }

    /// A file `name` in `parent` with chunks `ids` at indexes 0.. and `size` bytes.
    fn file_with_chunks(&mut self, parent: Ino, name: &str, ids: &[u64], size: u64) -> Ino {
        let f = self.file(parent, name).unwrap().ino;
        for (i, &id) in ids.iter().enumerate() {
            self.now += 1;
            self.ns.apply_chunk_write(&self.ctx(), f, i as u32, Some(id), &["cs1:9422".to_string()]).unwrap();
        }
        self.write(WriteOp::WriteEnd { ino: f, size }).unwrap();
        f
    }

    fn chunk_ids(&self, ino: Ino) -> Vec<u64> {
        match self.read(ReadOp::FileChunks { ino, from: 0 }).unwrap() {
            Reply::Chunks(locs) => locs.iter().map(|l| l.chunk_id).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn cow(&mut self, ino: Ino, index: u32, old: u64, new: u64) -> OpResult {
        self.now += 1;
        let before = self.ns.clone();
        let r = self.ns.apply_chunk_cow(&self.ctx(), ino, index, old, new, &["cs2:9422".to_string()]);
        if r.is_err() {
            assert!(self.ns == before, "failed copy-on-write ({r:?}) changed the namespace");
        }
        r
    }

    /// The reference counts kept as operations go equal those counted from scratch.
    fn check_shared_counts(&self) {
        let mut fresh = self.ns.clone();
        fresh.rebuild_derived();
        assert!(fresh == self.ns, "reference counts drifted from the files' chunk lists");
    }
}

const ALL: ChunkSlice = ChunkSlice { from: None, to: None };

const NONE: SnapshotFlags = SnapshotFlags { overwrite: false, cp_like: false, preserve_hardlinks: false };

#[test]
fn a_file_snapshot_shares_its_chunks_until_the_last_file_goes() {
    let mut fs = Fs::without_trash();
    let f = fs.file_with_chunks(ROOT, "f", &[1, 2], CHUNK_SIZE + 10);
    fs.setxattr(f, "user.a", b"v", XattrMode::Set).unwrap();
    assert_eq!(fs.snapshot(f, ROOT, "g", NONE), Ok(1));
    let g = fs.lookup(ROOT, "g").unwrap();
    let fa = fs.getattr(f).unwrap();
    assert_ne!(g.ino, f);
    assert_eq!((g.size, g.mode(), g.uid, g.mtime, g.goal), (fa.size, fa.mode(), fa.uid, fa.mtime, fa.goal));
    assert_eq!(fs.chunk_ids(g.ino), vec![1, 2]);
    assert!(fs.ns.is_shared(1) && fs.ns.is_shared(2));
    assert!(fs.read(ReadOp::GetXattr { ino: g.ino, name: b"user.a".to_vec() }).is_ok());
    fs.check_shared_counts();
    fs.unlink(ROOT, "f").unwrap();
    assert!(fs.ns.chunks_to_delete().is_empty(), "g still uses them");
    assert!(!fs.ns.is_shared(1));
    assert!(fs.ns.chunk_meta(1).is_some());
    fs.check_shared_counts();
    fs.unlink(ROOT, "g").unwrap();
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn copy_on_write_gives_the_writer_its_own_chunk() {
    let mut fs = Fs::without_trash();
    let f = fs.file_with_chunks(ROOT, "f", &[1], 100);
    fs.snapshot(f, ROOT, "g", NONE).unwrap();
    let g = fs.lookup(ROOT, "g").unwrap().ino;
    assert_eq!(fs.cow(g, 0, 7, 10), Err(Errno::EAGAIN), "the index holds another chunk");
    assert_eq!(fs.cow(g, 0, 1, 1), Err(Errno::EINVAL), "an id in use");
    let l = match fs.cow(g, 0, 1, 10).unwrap() {
        Reply::Chunk(l) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!((l.chunk_id, l.version, l.file_size), (10, 1, 100));
    assert_eq!(fs.chunk_ids(g), vec![10]);
    assert_eq!(fs.chunk_ids(f), vec![1], "the original keeps its chunk");
    assert!(!fs.ns.is_shared(1));
    assert!(fs.ns.next_chunk_id() > 10);
    fs.check_shared_counts();
    // A truncate of the copy lets go of its own chunk only.
    fs.truncate(g, 0).unwrap();
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), vec![10]);
    assert_eq!(fs.chunk_ids(f), vec![1]);
}

#[test]
fn a_tree_is_copied_whole_and_checked_before_anything_changes() {
    let mut fs = Fs::without_trash();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let sub = fs.mkdir(d, "sub").unwrap().ino;
    fs.file_with_chunks(sub, "f", &[1], 5);
    fs.symlink(d, "l", b"sub/f").unwrap();
    fs.mknod(d, "p", libc::S_IFIFO | 0o644, 0).unwrap();
    assert_eq!(fs.snapshot(d, ROOT, "e", NONE), Ok(5));
    let e = fs.lookup(ROOT, "e").unwrap();
    assert_eq!(e.kind, FileType::Dir);
    let esub = fs.lookup(e.ino, "sub").unwrap().ino;
    let ef = fs.lookup(esub, "f").unwrap();
    assert_eq!(ef.size, 5);
    assert_eq!(fs.lookup(e.ino, "l").unwrap().kind, FileType::Symlink);
    assert_eq!(fs.lookup(e.ino, "p").unwrap().kind, FileType::Fifo);
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 4, "root holds d and e");
    // Into itself, onto itself, over another kind, over a file without -o.
    assert_eq!(fs.snapshot(d, sub, "x", NONE), Err(Errno::EINVAL));
    assert_eq!(fs.snapshot(d, ROOT, "d", NONE), Err(Errno::EINVAL));
    let file = fs.lookup(sub, "f").unwrap().ino;
    assert_eq!(fs.snapshot(file, e.ino, "sub", NONE), Err(Errno::EPERM));
    assert_eq!(fs.snapshot(d, ROOT, "e", NONE), Err(Errno::EEXIST), "e/sub/f exists");
    // With -o the tree merges and the file is replaced, by a new inode with the same chunks.
    assert_eq!(fs.snapshot(file, esub, "f", SnapshotFlags { overwrite: true, ..NONE }), Ok(0), "already the same");
    fs.write(WriteOp::WriteEnd { ino: file, size: 9 }).unwrap();
    assert_eq!(fs.snapshot(d, ROOT, "e", SnapshotFlags { overwrite: true, ..NONE }), Ok(5));
    let ef2 = fs.lookup(esub, "f").unwrap();
    assert_ne!(ef2.ino, ef.ino);
    assert_eq!(ef2.size, 9);
    fs.check_shared_counts();
    // A folder given for the source's parent into a folder holding it.
    assert_eq!(fs.snapshot(sub, ROOT, "d", NONE), Err(Errno::EINVAL));
}

#[test]
fn copies_by_others_are_theirs_and_unreadable_files_are_left_out() {
    let mut fs = Fs::without_trash();
    let d = fs.mkdir_mode(ROOT, "d", 0o777).unwrap().ino;
    let f = fs.as_user(ALICE, ALICE, |fs| fs.create_mode(d, "f", 0o4755).unwrap().ino);
    fs.as_user(ALICE, ALICE, |fs| fs.release(f).unwrap());
    let secret = fs.as_user(ALICE, ALICE, |fs| fs.create_mode(d, "secret", 0o600).unwrap().ino);
    fs.as_user(ALICE, ALICE, |fs| fs.release(secret).unwrap());
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.snapshot(secret, d, "s2", NONE)), Err(Errno::EACCES));
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.snapshot(d, ROOT, "bob", NONE)), Err(Errno::EACCES), "no write on /");
    let home = fs.mkdir_mode(ROOT, "home", 0o777).unwrap().ino;
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.snapshot(d, home, "copy", NONE)), Ok(2), "the folder and f");
    let copy = fs.lookup(home, "copy").unwrap().ino;
    let cf = fs.lookup(copy, "f").unwrap();
    assert_eq!((cf.uid, cf.gid, cf.mode() & 0o7777), (BOB, BOB, 0o755), "the caller's, without suid");
    assert_eq!(fs.lookup(copy, "secret"), Err(Errno::ENOENT));
    // -c: made as cp makes them.
    fs.as_user(ALICE, ALICE, |fs| fs.snapshot(f, home, "cp", SnapshotFlags { cp_like: true, ..NONE })).unwrap();
    let cp = fs.lookup(home, "cp").unwrap();
    assert_eq!((cp.uid, cp.perm & 0o777), (ALICE, 0o755));
    assert_eq!(cp.mtime, t(fs.now), "times are now");
}

#[test]
fn hard_links_stay_links_with_p() {
    let mut fs = Fs::without_trash();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "a").unwrap().ino;
    fs.link(f, d, "b").unwrap();
    fs.snapshot(d, ROOT, "plain", NONE).unwrap();
    let plain = fs.lookup(ROOT, "plain").unwrap().ino;
    assert_ne!(fs.lookup(plain, "a").unwrap().ino, fs.lookup(plain, "b").unwrap().ino);
    fs.snapshot(d, ROOT, "linked", SnapshotFlags { preserve_hardlinks: true, ..NONE }).unwrap();
    let linked = fs.lookup(ROOT, "linked").unwrap().ino;
    let (a, b) = (fs.lookup(linked, "a").unwrap(), fs.lookup(linked, "b").unwrap());
    assert_eq!(a.ino, b.ino);
    assert_eq!(a.nlink, 2);
}

#[test]
fn appended_chunks_are_shared_after_a_whole_number_of_chunks() {
    let mut fs = Fs::without_trash();
    let src = fs.file_with_chunks(ROOT, "src", &[1, 2], CHUNK_SIZE + 5);
    let dst = fs.file_with_chunks(ROOT, "dst", &[3], 100);
    let a = attr(fs.write(WriteOp::AppendChunks { dst, src, slice: ALL })).unwrap();
    assert_eq!(a.size, CHUNK_SIZE + CHUNK_SIZE + 5);
    assert_eq!(fs.chunk_ids(dst), vec![3, 1, 2]);
    assert!(fs.ns.is_shared(1));
    fs.check_shared_counts();
    assert_eq!(fs.write(WriteOp::AppendChunks { dst, src: dst, slice: ALL }), Err(Errno::EINVAL));
    assert_eq!(fs.write(WriteOp::AppendChunks { dst: ROOT, src, slice: ALL }), Err(Errno::EPERM));
    let empty = fs.file(ROOT, "empty").unwrap().ino;
    assert_eq!(attr(fs.write(WriteOp::AppendChunks { dst, src: empty, slice: ALL })).unwrap().size, a.size);
    // Slices, as Python's: chunk 1 alone (the end: the source's length past it), chunk 0 alone.
    let one = fs.file(ROOT, "one").unwrap().ino;
    let a1 = attr(fs.write(WriteOp::AppendChunks { dst: one, src, slice: ChunkSlice { from: Some(-1), to: None } }));
    assert_eq!(a1.unwrap().size, 5);
    assert_eq!(fs.chunk_ids(one), vec![2]);
    let a2 = attr(fs.write(WriteOp::AppendChunks { dst: one, src, slice: ChunkSlice { from: None, to: Some(1) } }));
    assert_eq!(a2.unwrap().size, 2 * CHUNK_SIZE);
    assert_eq!(fs.chunk_ids(one), vec![2, 1]);
    let same =
        attr(fs.write(WriteOp::AppendChunks { dst: one, src, slice: ChunkSlice { from: Some(1), to: Some(1) } }));
    assert_eq!(same.unwrap().size, 2 * CHUNK_SIZE, "an empty slice changes nothing");
    fs.unlink(ROOT, "one").unwrap();
    // Twice into one file: two references from one file.
    fs.write(WriteOp::AppendChunks { dst, src, slice: ALL }).unwrap();
    fs.check_shared_counts();
    fs.unlink(ROOT, "src").unwrap();
    fs.unlink(ROOT, "dst").unwrap();
    let mut freed: Vec<u64> = fs.ns.chunks_to_delete().iter().copied().collect();
    freed.sort();
    assert_eq!(freed, vec![1, 2, 3]);
}

#[test]
fn reference_counts_survive_a_snapshot_of_the_state() {
    let mut fs = Fs::without_trash();
    let f = fs.file_with_chunks(ROOT, "f", &[1], 5);
    fs.snapshot(f, ROOT, "g", NONE).unwrap();
    let mut st = crate::state::MetaState::new();
    st.ns = fs.ns.clone();
    let bytes = crate::sm_store::encode_state(&st).unwrap();
    let back = crate::sm_store::decode_state(&bytes).unwrap();
    assert!(back.ns.is_shared(1));
    assert!(back.ns == fs.ns);
}

#[test]
fn the_summary_counts_directories_as_they_come_and_go() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT_INODE, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    fs.file(b, "f").unwrap();
    fs.symlink(a, "l", b"b/f").unwrap();
    assert_eq!(fs.ns.summary().dirs, 3, "root, a, b");
    fs.snapshot(a, ROOT_INODE, "a2", NONE).unwrap();
    let s = fs.ns.summary();
    assert_eq!((s.dirs, s.inodes), (5, 9), "the snapshot adds a2, a2/b, a2/b/f and a2/l");
    fs.unlink(b, "f").unwrap();
    fs.rmdir(a, "b").unwrap();
    assert_eq!(fs.ns.summary().dirs, 4);
    assert_eq!(fs.ns.summary().trash, 1, "the unlinked file waits in the trash");
    fs.check_shared_counts();
}
