//! The master group changed online with `mfscli -c mfsmaster.cfg ...` while a mount writes:
//! a fourth master added (it catches up, then votes), the leader removed, a dead master whose
//! disk is gone replaced by a new one, the group grown to five, then its leader SIGKILLed. The
//! writer sees no error, every file it wrote reads back, and the masters' states agree.
//!
//! One cluster on 127.0.102.x.

use std::time::Duration;

use raftmfs_tests::writer::FileWriter;
use raftmfs_tests::{bin, wait_for, Cluster};

const BLOCK: u8 = 102;
const LIMIT: Duration = Duration::from_secs(90);

/// `mfscli -c CFG args...`: (success, stdout + stderr).
fn mfscli(cfg: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(bin("mfscli")).arg("-c").arg(cfg).args(args).output().expect("run mfscli");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The voters as the leader reports them.
fn voters(c: &Cluster) -> Vec<u64> {
    let leader = c.wait_leader(LIMIT);
    c.status(leader).expect("leader status").voters
}

#[test]
fn masters_are_added_removed_and_replaced_while_a_mount_writes() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let mut c = Cluster::with_chunkservers(BLOCK, "RAFT_SNAPSHOT_LOGS = 100\nRAFT_LOGS_KEEP = 20", "");
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("w")).expect("mkdir");
    let mut writer = FileWriter::start(m.path("w"));
    assert!(writer.wait_past(0, 20, LIMIT), "the writer runs");

    // A fourth master: a learner until it caught up (by snapshot: the log is purged), then a voter.
    let four = c.add_master(4, &format!("127.0.{BLOCK}.14"), "RAFT_SNAPSHOT_LOGS = 100\nRAFT_LOGS_KEEP = 20");
    let (ok, out) = mfscli(&c.masters[0].cfg, &["add-master", &format!("4@127.0.{BLOCK}.14")]);
    assert!(ok, "add-master: {out}");
    assert_eq!(voters(&c), vec![1, 2, 3, 4]);
    wait_for(LIMIT, "master 4 applied the state", || {
        let s = c.status(four)?;
        (s.role == "follower" && s.applied_index? > 0).then_some(())
    });
    let done = writer.done();
    assert!(writer.wait_past(done, 10, LIMIT), "writes go on");

    // The leader itself leaves the group (another is elected), then stops.
    let leader = c.wait_leader(LIMIT);
    let leader_id = c.masters[leader].id;
    let asker = (0..c.masters.len()).find(|&i| i != leader).expect("another master");
    let (ok, out) = mfscli(&c.masters[asker].cfg, &["remove-master", &leader_id.to_string()]);
    assert!(ok, "remove-master {leader_id}: {out}");
    wait_for(LIMIT, "a group without the old leader", || {
        let v = voters(&c);
        (!v.contains(&leader_id) && v.len() == 3).then_some(())
    });
    c.kill(leader);
    let done = writer.done();
    assert!(writer.wait_past(done, 10, LIMIT), "writes go on after the leader left");

    // A master dies with its disk: replaced by a new one (id 5) on an empty disk.
    let leader = c.wait_leader(LIMIT);
    let dead = (0..c.masters.len()).find(|&i| c.masters[i].is_running() && i != leader).expect("a follower");
    let dead_id = c.masters[dead].id;
    c.kill(dead);
    c.wipe(dead);
    c.add_master(5, &format!("127.0.{BLOCK}.15"), "RAFT_SNAPSHOT_LOGS = 100\nRAFT_LOGS_KEEP = 20");
    let asker =
        (0..c.masters.len()).find(|&i| c.masters[i].is_running() && c.masters[i].id != 5).expect("a live master");
    let (ok, out) =
        mfscli(&c.masters[asker].cfg, &["replace-master", &dead_id.to_string(), &format!("5@127.0.{BLOCK}.15")]);
    assert!(ok, "replace-master {dead_id}: {out}");
    let v = voters(&c);
    assert!(v.contains(&5) && !v.contains(&dead_id) && v.len() == 3, "voters {v:?}");
    let done = writer.done();
    assert!(writer.wait_past(done, 10, LIMIT), "writes go on after the replacement");

    // Five masters; then their leader dies and the four others carry on.
    for (id, host) in [(6u64, 16u8), (7, 17)] {
        c.add_master(id, &format!("127.0.{BLOCK}.{host}"), "RAFT_SNAPSHOT_LOGS = 100\nRAFT_LOGS_KEEP = 20");
        let asker = (0..c.masters.len()).find(|&i| c.masters[i].is_running()).expect("a live master");
        let (ok, out) = mfscli(&c.masters[asker].cfg, &["add-master", &format!("{id}@127.0.{BLOCK}.{host}")]);
        assert!(ok, "add-master {id}: {out}");
    }
    assert_eq!(voters(&c).len(), 5, "five voters");
    // The mount learns the group (within 5 s) and the chunkservers at once: it can lose every
    // master of its -H list.
    wait_for(LIMIT, "the mount knows master 7", || {
        m.log_tail(200).contains(&format!("127.0.{BLOCK}.17:9421")).then_some(())
    });
    let leader = c.wait_leader(LIMIT);
    c.kill(leader);
    let new_leader = c.wait_leader(LIMIT);
    assert_ne!(new_leader, leader);
    let done = writer.done();
    assert!(writer.wait_past(done, 10, LIMIT), "writes go on under the new leader of five");

    let written = writer.stop();
    assert!(writer.errors().is_empty(), "the writer saw errors: {:?}", writer.errors());
    assert_eq!(writer.verify(&m.path("w")), Ok(written), "every file reads back");
    let ds = c.wait_converged(LIMIT);
    assert!(ds.windows(2).all(|w| w[0].digest == w[1].digest), "the masters agree: {ds:?}");
    // The group's changes are refused where they make no sense.
    let asker = (0..c.masters.len()).find(|&i| c.masters[i].is_running()).expect("a live master");
    let (ok, out) = mfscli(&c.masters[asker].cfg, &["remove-master", "42"]);
    assert!(!ok && out.contains("not a member"), "{out}");
}
