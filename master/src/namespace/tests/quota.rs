//! Folder quotas (`mfssetquota`): what counts, which operations each limit refuses, soft limits
//! and their grace period, nesting, and counts that always equal a recount from the tree.

use super::*;
use proto::meta::CHUNK_SIZE;
use proto::quota::*;

const FULL: u64 = CHUNK_SIZE + 8192;

impl Fs {
    fn set_quota(&mut self, ino: Ino, flags: u8, limits: [u64; 8], grace: u32) -> Result<QuotaInfo, Errno> {
        let change = QuotaChange { flags, limits, grace, delete: false };
        match self.write(WriteOp::SetQuota { ino, change })? {
            Reply::Quota(q) => Ok(q),
            other => panic!("setquota answered {other:?}"),
        }
    }

    fn del_quota(&mut self, ino: Ino, flags: u8) -> QuotaInfo {
        let change = QuotaChange { flags, delete: true, ..QuotaChange::default() };
        match self.write(WriteOp::SetQuota { ino, change }).unwrap() {
            Reply::Quota(q) => q,
            other => panic!("{other:?}"),
        }
    }

    fn quota(&self, ino: Ino) -> QuotaInfo {
        match self.read(ReadOp::GetQuota { ino }).unwrap() {
            Reply::Quota(q) => q,
            other => panic!("{other:?}"),
        }
    }

    /// The running counts equal a count from scratch (the state loaded from a snapshot).
    fn check_counts(&self) {
        let mut fresh = self.ns.clone();
        fresh.recount_quotas();
        assert!(fresh == self.ns, "quota usage drifted from the tree");
    }

    fn grow_to(&mut self, ino: Ino, size: u64) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::WriteEnd { ino, size }))
    }

    fn quota_chunk_write(&mut self, ino: Ino, index: u32, id: u64) -> OpResult {
        self.now += 1;
        self.ns.apply_chunk_write(&self.ctx(), ino, index, Some(id), &["cs1:9422".to_string()])
    }
}

/// Limits with one value set at position `k` (0..4 soft, 4..8 hard).
fn limit(k: usize, v: u64) -> (u8, [u64; 8]) {
    let mut l = [0; 8];
    l[k] = v;
    (1 << k, l)
}

#[test]
fn usage_counts_the_contents_and_a_hard_inode_limit_refuses_new_names() {
    let mut fs = Fs::without_trash();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.file(d, "a").unwrap();
    fs.symlink(d, "l", b"a-target").unwrap();
    let q = fs.quota(d);
    assert_eq!((q.flags, q.usage.inodes, q.usage.length), (0, 2, 8), "no quota: usage still shown");
    let (f, l) = limit(4, 4);
    let q = fs.set_quota(d, f, l, 0).unwrap();
    assert_eq!((q.flags, q.limits[4], q.usage.inodes), (HARD_INODES, 4, 2));
    fs.mkdir(d, "sub").unwrap();
    let sub = fs.ino(d, "sub");
    fs.file(sub, "b").unwrap();
    assert_eq!(fs.quota(d).usage.inodes, 4, "equal to the limit is within it");
    assert_eq!(fs.file(d, "c").err(), Some(Errno::EDQUOT));
    assert_eq!(fs.mkdir(sub, "deeper").err(), Some(Errno::EDQUOT), "a folder below counts");
    assert_eq!(fs.symlink(d, "m", b"x").err(), Some(Errno::EDQUOT));
    assert!(fs.file(ROOT, "outside").is_ok());
    fs.unlink(d, "a").unwrap();
    assert_eq!(fs.quota(d).usage.inodes, 3);
    assert!(fs.file(d, "c").is_ok());
    fs.check_counts();
}

#[test]
fn length_and_size_limits_refuse_growth_of_a_file() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap().ino;
    let (fl, l) = limit(5, 1000);
    fs.set_quota(d, fl, l, 0).unwrap();
    assert_eq!(fs.grow_to(f, 1000).map(|a| a.size), Ok(1000));
    assert_eq!(fs.grow_to(f, 1001).err(), Some(Errno::EDQUOT));
    assert_eq!(fs.truncate(f, 5000).err(), Some(Errno::EDQUOT));
    assert!(fs.truncate(f, 10).is_ok(), "shrinking is never refused");
    fs.del_quota(d, HARD_LENGTH);
    assert_eq!(fs.quota(d).flags, 0, "the last limit takes the quota with it");

    // Size: a chunk counts in full when written (MooseFS's worst case), so a size limit below
    // one chunk refuses the first chunk.
    let (fl, l) = limit(6, FULL);
    fs.set_quota(d, fl, l, 0).unwrap();
    assert!(fs.quota_chunk_write(f, 0, 7).is_ok());
    assert_eq!(fs.quota(d).usage.size, 65536 + 8192, "10 bytes: one 64 KiB block and the head");
    assert_eq!(fs.quota_chunk_write(f, 1, 8).err(), Some(Errno::EDQUOT));
    assert_eq!(fs.ns.chunk_write_quota(f, 1, t(fs.now)), Err(Errno::EDQUOT), "the leader's early check agrees");
    fs.check_counts();
}

#[test]
fn a_soft_limit_refuses_once_passed_for_longer_than_its_grace_period() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let (fl, l) = limit(0, 2);
    fs.set_quota(d, fl, l, 100).unwrap();
    for n in ["a", "b", "c", "e"] {
        fs.file(d, n).unwrap();
    }
    assert_eq!(fs.quota(d).usage.inodes, 4, "over the soft limit: allowed within the grace period");
    fs.now += 101;
    assert_eq!(fs.file(d, "late").err(), Some(Errno::EDQUOT));
    // Back under the soft limit: the clock stops, and new names come again.
    for n in ["a", "b", "c"] {
        fs.unlink(d, n).unwrap();
    }
    assert!(fs.file(d, "again").is_ok());
    // A rename inside the folder while over the soft limit does not restart its clock.
    fs.file(d, "x").unwrap();
    let since = fs.ns.quota_section()[0].1.over_since;
    assert!(since.is_some());
    fs.now += 50;
    fs.rename(d, "x", d, "y").unwrap();
    assert_eq!(fs.ns.quota_section()[0].1.over_since, since);
    fs.now += 60;
    assert_eq!(fs.file(d, "later").err(), Some(Errno::EDQUOT), "the grace period ran from the first pass");
    fs.check_counts();
}

#[test]
fn nested_quotas_all_apply_and_moves_count_where_they_land() {
    let mut fs = Fs::new();
    let outer = fs.mkdir(ROOT, "outer").unwrap().ino;
    let inner = fs.mkdir(outer, "inner").unwrap().ino;
    let (fl, l) = limit(4, 3);
    fs.set_quota(outer, fl, l, 0).unwrap();
    let (fl, l) = limit(4, 10);
    fs.set_quota(inner, fl, l, 0).unwrap();
    fs.file(inner, "x").unwrap();
    fs.file(inner, "y").unwrap();
    assert_eq!(fs.file(inner, "z").err(), Some(Errno::EDQUOT), "the outer quota holds inner, x, y");
    // A tree moved in from outside counts whole; a move within the quota adds nothing.
    let t = fs.mkdir(ROOT, "t").unwrap().ino;
    fs.file(t, "t1").unwrap();
    assert_eq!(fs.rename(ROOT, "t", inner, "t"), Err(Errno::EDQUOT));
    assert_eq!(fs.rename(inner, "x", outer, "x"), Ok(()));
    assert_eq!((fs.quota(outer).usage.inodes, fs.quota(inner).usage.inodes), (3, 1));
    // Hard links count once per name.
    let y = fs.ino(inner, "y");
    assert_eq!(fs.link(y, outer, "y2").err(), Some(Errno::EDQUOT));
    fs.check_counts();
    // The quota goes with its folder.
    fs.unlink(inner, "y").unwrap();
    fs.rmdir(outer, "inner").unwrap();
    assert!(fs.ns.quota_section().iter().all(|(ino, _)| *ino != inner));
    fs.check_counts();
}

#[test]
fn a_higher_goal_counts_in_realsize_and_only_root_like_sessions_set_quotas() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap().ino;
    fs.quota_chunk_write(f, 0, 3).unwrap();
    fs.grow_to(f, 100).unwrap();
    let size = 65536 + 8192;
    let goal = u64::from(fs.getattr(f).unwrap().goal);
    assert_eq!(fs.quota(d).usage.realsize, size * goal);
    let (fl, l) = limit(7, size * goal + 1);
    fs.set_quota(d, fl, l, 0).unwrap();
    assert_eq!(fs.set_goal(f, (goal + 1) as u8, false), Err(Errno::EDQUOT));
    assert_eq!(fs.set_goal(d, (goal + 1) as u8, true), Err(Errno::EDQUOT));
    assert!(fs.set_goal(f, 1, false).is_ok());
    assert_eq!(fs.quota(d).usage.realsize, size);
    assert_eq!(fs.set_quota(f, fl, l, 0).err(), Some(Errno::EPERM), "only folders hold quotas");
    fs.check_counts();
}

#[test]
fn quotas_survive_a_state_snapshot_with_their_clock() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.file(d, "a").unwrap();
    let (fl, l) = limit(0, 0);
    fs.set_quota(d, fl, l, 50).unwrap();
    let section = fs.ns.quota_section();
    assert!(section[0].1.over_since.is_some(), "over the soft limit since it was set");
    let mut back = fs.ns.clone();
    back.restore_quota_section(Vec::new());
    assert!(back.quota_section().is_empty());
    back.restore_quota_section(section.clone());
    assert!(back == fs.ns, "limits, clock and recounted usage come back");
}
