//! Chunk writes (allocate, bump), the end of a write, chunk locations, and the chunk loop's
//! bookkeeping commands.

use super::*;
use proto::client::ChunkLocation;
use proto::meta::{CHUNK_SIZE, MAX_FILE_SIZE};

use crate::namespace::MAX_CHUNK_INDEX;

const ALICE: u32 = 1000;
const BOB: u32 = 2000;

fn addrs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

impl Fs {
    /// Apply a chunk write as a `Command::ChunkWrite` would; a failure must change nothing.
    fn chunk_write(
        &mut self,
        ino: Ino,
        index: u32,
        new_chunk: Option<u64>,
        holders: &[&str],
    ) -> Result<ChunkLocation, Errno> {
        self.now += 1;
        let before = self.ns.clone();
        let r = self.ns.apply_chunk_write(&self.ctx(), ino, index, new_chunk, &addrs(holders));
        if r.is_err() {
            assert!(self.ns == before, "failed chunk write ({r:?}) changed the namespace");
        }
        loc(r)
    }

    fn write_end(&mut self, ino: Ino, size: u64) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::WriteEnd { ino, size }))
    }

    fn chunk_read(&self, ino: Ino, index: u32) -> Result<ChunkLocation, Errno> {
        loc(self.read(ReadOp::ChunkRead { ino, index }))
    }

    fn meta(&self, id: u64) -> ChunkMeta {
        self.ns.chunk_meta(id).cloned().expect("chunk in the table")
    }
}

fn loc(r: OpResult) -> Result<ChunkLocation, Errno> {
    match r? {
        Reply::Chunk(l) => Ok(l),
        other => panic!("expected a chunk location, got {other:?}"),
    }
}

#[test]
fn a_hole_gets_a_new_chunk_at_version_1_with_its_holders() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    let l = fs.chunk_write(f, 0, Some(1), &["cs2:9422", "cs1:9422"]).unwrap();
    assert_eq!((l.index, l.chunk_id, l.version, l.goal, l.file_size), (0, 1, 1, 1, 0));
    assert_eq!(l.servers, addrs(&["cs2:9422", "cs1:9422"]), "the chain in the order the leader chose");
    assert_eq!(fs.meta(1), ChunkMeta { version: 1, holders: addrs(&["cs1:9422", "cs2:9422"]) });
    assert_eq!(fs.chunks_of(f), [1]);
    assert_eq!(fs.ns.next_chunk_id(), 2);
    // A later index: the chunk vector grows with holes.
    let l = fs.chunk_write(f, 3, Some(5), &["a"]).unwrap();
    assert_eq!((l.chunk_id, l.version), (5, 1));
    assert_eq!(fs.chunks_of(f), [1, 0, 0, 5]);
    assert_eq!(fs.ns.next_chunk_id(), 6);
}

#[test]
fn a_taken_hole_is_eagain_and_bad_ids_are_einval() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.chunk_write(f, 0, Some(3), &["a"]).unwrap();
    assert_eq!(fs.chunk_write(f, 0, Some(4), &["a"]), Err(Errno::EAGAIN), "someone allocated it first");
    assert_eq!(fs.chunk_write(f, 1, Some(3), &["a"]), Err(Errno::EINVAL), "an id in use");
    // One leader's concurrent allocations commit in any order: 6 then 5 (both unused).
    let g = fs.create(ROOT, "g").unwrap().ino;
    assert_eq!(fs.chunk_write(g, 0, Some(6), &["a"]).unwrap().chunk_id, 6);
    assert_eq!(fs.chunk_write(g, 1, Some(5), &["a"]).unwrap().chunk_id, 5);
    assert_eq!(fs.ns.next_chunk_id(), 7, "never lowered");
    assert_eq!(fs.chunk_write(f, 1, Some(0), &["a"]), Err(Errno::EINVAL));
    assert_eq!(fs.chunk_write(f, 1, None, &["a"]), Err(Errno::EINVAL), "a bump needs a chunk");
    let max = u32::try_from(MAX_CHUNK_INDEX).unwrap();
    assert_eq!(fs.chunk_write(f, max, Some(9), &["a"]), Err(Errno::EFBIG));
    assert_eq!(MAX_CHUNK_INDEX * CHUNK_SIZE, MAX_FILE_SIZE);
}

#[test]
fn a_bump_raises_the_version_and_replaces_the_holders() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.chunk_write(f, 0, Some(1), &["a", "b"]).unwrap();
    let l = fs.chunk_write(f, 0, None, &["b"]).unwrap();
    assert_eq!((l.chunk_id, l.version), (1, 2));
    assert_eq!(l.servers, addrs(&["b"]));
    assert_eq!(fs.meta(1), ChunkMeta { version: 2, holders: addrs(&["b"]) });
    assert_eq!(fs.ns.next_chunk_id(), 2, "a bump allocates nothing");
}

#[test]
fn chunk_writes_need_a_regular_file_and_write_permission_or_an_open_reference() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let l = fs.symlink(ROOT, "l", b"x").unwrap().ino;
    assert_eq!(fs.chunk_write(d, 0, Some(1), &["a"]), Err(Errno::EISDIR));
    assert_eq!(fs.chunk_write(l, 0, Some(1), &["a"]), Err(Errno::EINVAL));
    assert_eq!(fs.chunk_write(999, 0, Some(1), &["a"]), Err(Errno::ENOENT));
    let f = fs.file(ROOT, "f").unwrap().ino; // 0644, root's, not open
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.chunk_write(f, 0, Some(1), &["a"])), Err(Errno::EACCES));
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.write_end(f, 1)), Err(Errno::EACCES));
    // Opened by bob's session (for reading: allowed by 0644): like ftruncate on a
    // descriptor, the session may write without the permission.
    fs.in_session(7, |fs| {
        fs.as_user(BOB, BOB, |fs| {
            fs.open(f, O_RDONLY).unwrap();
            fs.chunk_write(f, 0, Some(1), &["a"]).unwrap();
            fs.write_end(f, 10).unwrap();
        })
    });
    // Another session of bob's does not have it open.
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.chunk_write(f, 0, None, &["a"])), Err(Errno::EACCES));
    // The owner may.
    fs.chown(f, Some(ALICE), None).unwrap();
    fs.as_user(ALICE, ALICE, |fs| fs.chunk_write(f, 0, None, &["a"])).unwrap();
}

#[test]
fn write_end_grows_the_file_sets_times_and_drops_privileges() {
    let mut fs = Fs::new();
    let shared = fs.mkdir_mode(ROOT, "shared", 0o777).unwrap().ino;
    let f = fs.as_user(ALICE, ALICE, |fs| fs.create_mode(shared, "f", 0o6775)).unwrap().ino;
    assert_eq!(fs.getattr(f).unwrap().perm, 0o6775);
    let a = fs.as_user(ALICE, ALICE, |fs| fs.write_end(f, 100)).unwrap();
    assert_eq!(a.size, 100);
    assert_eq!((a.mtime, a.ctime), (t(fs.now), t(fs.now)));
    assert_eq!(a.perm, 0o0775, "suid and sgid (with group-exec) dropped by a non-root write");
    // Never shrinks.
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.write_end(f, 10)).unwrap().size, 100);
    // sgid without group-exec (mandatory locking) stays; root keeps suid.
    fs.chmod(f, 0o6765).unwrap();
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.write_end(f, 1)).unwrap().perm, 0o2765);
    fs.chmod(f, 0o4755).unwrap();
    assert_eq!(fs.write_end(f, 1).unwrap().perm, 0o4755);
    assert_eq!(fs.write_end(f, MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
    assert_eq!(fs.write_end(f, MAX_FILE_SIZE).unwrap().size, MAX_FILE_SIZE);
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    assert_eq!(fs.write_end(d, 1), Err(Errno::EISDIR));
}

#[test]
fn truncate_and_unlink_move_chunks_to_the_deletion_list() {
    let mut fs = Fs::without_trash();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.chunk_write(f, 0, Some(1), &["a"]).unwrap();
    fs.chunk_write(f, 1, Some(2), &["a"]).unwrap();
    fs.chunk_write(f, 2, Some(3), &["a"]).unwrap();
    fs.write_end(f, 3 * CHUNK_SIZE).unwrap();
    fs.truncate(f, CHUNK_SIZE + 1).unwrap();
    assert_eq!(fs.chunks_of(f), [1, 2]);
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [3]);
    assert!(fs.ns.chunk_meta(3).is_none());
    fs.unlink(ROOT, "f").unwrap();
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert!(fs.ns.chunk_table().is_empty());
    // The loop reports them gone from every chunkserver.
    assert_eq!(count(fs.ns.chunks_deleted(&[1, 3, 77])), Ok(2));
    assert_eq!(fs.ns.chunks_to_delete().iter().copied().collect::<Vec<_>>(), [2]);
}

#[test]
fn chunk_reads_answer_ids_versions_holders_and_holes() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.set_goal(f, 3, false).unwrap();
    fs.chunk_write(f, 1, Some(4), &["b", "a"]).unwrap();
    fs.write_end(f, CHUNK_SIZE + 5).unwrap();
    let l = fs.chunk_read(f, 1).unwrap();
    assert_eq!(
        l,
        ChunkLocation {
            index: 1,
            chunk_id: 4,
            version: 1,
            file_size: CHUNK_SIZE + 5,
            servers: addrs(&["a", "b"]),
            goal: 3,
            damaged: vec![],
            token: None
        }
    );
    let hole = fs.chunk_read(f, 0).unwrap();
    assert_eq!((hole.chunk_id, hole.version, hole.servers.len()), (0, 0, 0));
    assert_eq!(fs.chunk_read(f, 99).unwrap().chunk_id, 0, "past the end: a hole");
    match fs.read(ReadOp::FileChunks { ino: f, from: 0 }).unwrap() {
        Reply::Chunks(c) => {
            assert_eq!(c.iter().map(|l| (l.index, l.chunk_id)).collect::<Vec<_>>(), [(1, 4)], "holes left out");
        }
        other => panic!("{other:?}"),
    }
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    assert_eq!(fs.chunk_read(d, 0), Err(Errno::EISDIR));
    assert_eq!(fs.read(ReadOp::FileChunks { ino: d, from: 0 }), Err(Errno::EISDIR));
}

#[test]
fn chunk_reads_need_read_permission_or_an_open_reference() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.chmod(f, 0o600).unwrap();
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.chunk_read(f, 0)), Err(Errno::EACCES));
    // mfsfileinfo needs only the file.
    assert!(fs.as_user(BOB, BOB, |fs| fs.read(ReadOp::FileChunks { ino: f, from: 0 })).is_ok());
    // Open somewhere (a descriptor survives a chmod): reads are allowed.
    fs.open(f, O_RDONLY).unwrap();
    assert!(fs.as_user(BOB, BOB, |fs| fs.chunk_read(f, 0)).is_ok());
}

#[test]
fn holder_updates_apply_only_to_the_version_they_were_made_for() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.chunk_write(f, 0, Some(1), &["a", "b"]).unwrap();
    fs.chunk_write(f, 0, None, &["a", "b", "c"]).unwrap(); // v2
    assert_eq!(count(fs.ns.set_chunk_holders(1, 1, &addrs(&["a"]))), Ok(0), "old version: ignored");
    assert_eq!(count(fs.ns.set_chunk_holders(1, 2, &addrs(&["c", "a"]))), Ok(1));
    assert_eq!(fs.meta(1).holders, addrs(&["a", "c"]));
    assert_eq!(count(fs.ns.add_chunk_holder(1, 2, "b")), Ok(1));
    assert_eq!(count(fs.ns.add_chunk_holder(1, 2, "b")), Ok(0), "already a holder");
    assert_eq!(count(fs.ns.add_chunk_holder(1, 1, "d")), Ok(0), "old version: ignored");
    assert_eq!(fs.meta(1).holders, addrs(&["a", "b", "c"]));
    assert_eq!(count(fs.ns.bump_chunk(1, 1, &addrs(&["a"]))), Ok(0), "old version: ignored");
    assert_eq!(count(fs.ns.bump_chunk(1, 2, &addrs(&["b", "a"]))), Ok(1));
    assert_eq!(fs.meta(1), ChunkMeta { version: 3, holders: addrs(&["a", "b"]) });
    assert_eq!(count(fs.ns.set_chunk_holders(42, 1, &[])), Ok(0), "unknown chunk");
}

#[test]
fn chunk_goals_are_the_goal_of_the_file() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    let g = fs.create(ROOT, "g").unwrap().ino;
    fs.chunk_write(f, 0, Some(1), &["a"]).unwrap();
    fs.chunk_write(g, 2, Some(2), &["a"]).unwrap();
    fs.set_goal(g, 4, false).unwrap();
    let goals = fs.ns.chunk_goals();
    assert_eq!(goals.into_iter().collect::<Vec<_>>(), [(1, 1), (2, 4)]);
}

#[test]
fn chunk_ops_are_deterministic_and_failures_change_nothing() {
    let run = |fs: &mut Fs| {
        let f = fs.create(ROOT, "f").unwrap().ino;
        fs.chunk_write(f, 0, Some(1), &["a", "b"]).unwrap();
        fs.chunk_write(f, 0, None, &["a"]).unwrap();
        fs.write_end(f, 12345).unwrap();
        fs.ns.add_chunk_holder(1, 2, "c").unwrap();
        f
    };
    let (mut a, mut b) = (Fs::new(), Fs::new());
    let f = run(&mut a);
    run(&mut b);
    assert_eq!(a.ns.digest(), b.ns.digest());
    // Every failing chunk op leaves the digest alone.
    let before = a.ns.digest();
    assert!(a.chunk_write(f, 0, Some(9), &["x"]).is_err());
    assert!(a.chunk_write(f, 5, Some(1), &["x"]).is_err());
    assert!(a.in_session(9, |fs| fs.as_user(BOB, BOB, |fs| fs.chunk_write(f, 0, None, &["x"]))).is_err());
    assert!(a.write_end(f, MAX_FILE_SIZE + 1).is_err());
    let ctx = a.ctx();
    assert_eq!(a.ns.apply_write(&ctx, &WriteOp::ChunkWrite { ino: f, index: 0, failed: vec![] }), Err(Errno::EINVAL));
    assert_eq!(a.ns.digest(), before);
    // A successful one changes it.
    a.chunk_write(f, 0, None, &["a"]).unwrap();
    assert_ne!(a.ns.digest(), before);
}

#[test]
fn file_repair_erases_or_revives_chunks_as_planned_and_skips_what_changed_since() {
    use crate::namespace::{RepairFix, RepairStep};
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.give_chunks(f, &[11, 12, 13, 14]);
    fs.ns.chunks.get_mut(&14).unwrap().version = 5; // written since the plan saw version 1
    let steps = vec![
        RepairStep { index: 0, id: 11, from_version: 1, fix: RepairFix::Erase },
        RepairStep {
            index: 1,
            id: 12,
            from_version: 1,
            fix: RepairFix::Version { version: 0x7, holders: vec!["b:9422".into(), "a:9422".into()] },
        },
        RepairStep { index: 3, id: 14, from_version: 1, fix: RepairFix::Erase },
        RepairStep { index: 2, id: 99, from_version: 1, fix: RepairFix::Erase }, // not this file's
    ];
    let ctx = fs.ctx();
    let r = fs.ns.apply_file_repair(&ctx, f, &steps);
    assert_eq!(r, Ok(Reply::Repaired { not_changed: 2, erased: 1, repaired: 1 }));
    assert_eq!(fs.chunks_of(f), [0, 12, 13, 14]);
    assert!(fs.ns.chunks_to_delete().contains(&11));
    let m = fs.ns.chunk_meta(12).unwrap();
    assert_eq!((m.version, m.holders.clone()), (7, vec!["a:9422".to_string(), "b:9422".to_string()]));
    assert_eq!(fs.ns.chunk_meta(14).unwrap().version, 5, "left alone");
    // Folders are refused as MooseFS does; a user without write permission too.
    let ctx = fs.ctx();
    assert_eq!(fs.ns.apply_file_repair(&ctx, ROOT, &[]), Err(Errno::EPERM));
    fs.chmod(f, 0o444).unwrap();
    let r = fs.as_user(1000, 1000, |fs| {
        let ctx = fs.ctx();
        fs.ns.apply_file_repair(&ctx, f, &[])
    });
    assert_eq!(r, Err(Errno::EACCES));
}
