//! `mfsmetalogger`: a non-voting learner that keeps a full, current copy of the metadata on
//! another host (its snapshot and log files are a backup `mfsmetarestore` reads), and that one
//! command (`mfscli promote`) makes a voter: after a master dies, the promoted metalogger keeps
//! the group's majority when the leader dies too.
//!
//! One cluster on 127.0.103.x.

use std::time::Duration;

use raftmfs_tests::writer::FileWriter;
use raftmfs_tests::{bin, wait_for, Cluster};

const BLOCK: u8 = 103;
const LIMIT: Duration = Duration::from_secs(90);

fn mfscli(cfg: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(bin("mfscli")).arg("-c").arg(cfg).args(args).output().expect("run mfscli");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_metalogger_keeps_a_copy_and_is_promoted_in_one_command() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let snaps = "RAFT_SNAPSHOT_LOGS = 100\nRAFT_LOGS_KEEP = 20";
    let mut c = Cluster::with_chunkservers(BLOCK, snaps, "");
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("w")).expect("mkdir");
    let mut writer = FileWriter::start(m.path("w"));
    assert!(writer.wait_past(0, 20, LIMIT), "the writer runs");

    let ml = c.add_metalogger(9, &format!("127.0.{BLOCK}.19"), snaps);
    let (ok, out) = mfscli(&c.masters[0].cfg, &["add-learner", &format!("9@127.0.{BLOCK}.19")]);
    assert!(ok, "add-learner: {out}");
    wait_for(LIMIT, "the metalogger a learner with the state", || {
        let s = c.status(ml)?;
        (s.role == "learner" && s.applied_index? > 0 && s.learners == vec![9] && s.voters == vec![1, 2, 3])
            .then_some(())
    });
    let done = writer.done();
    assert!(writer.wait_past(done, 150, LIMIT), "writes go on (past a snapshot)");
    let ds = c.wait_converged(LIMIT);
    assert!(ds.windows(2).all(|w| w[0].digest == w[1].digest), "the metalogger's copy is the masters': {ds:?}");
    // Its files are a backup.
    let data = c.masters[ml].data_dir();
    let out = std::process::Command::new(bin("mfsmetarestore"))
        .args(["-c", c.masters[ml].cfg.to_str().expect("utf-8"), "-n", data.to_str().expect("utf-8")])
        .output()
        .expect("mfsmetarestore -n");
    assert!(out.status.success(), "its data folder reads as a backup: {}", String::from_utf8_lossy(&out.stderr));

    // A follower dies; the metalogger becomes a voter in its place.
    let leader = c.wait_leader(LIMIT);
    let dead = (0..3).find(|&i| i != leader).expect("a follower");
    c.kill(dead);
    let dead_id = c.masters[dead].id;
    let (ok, out) = mfscli(&c.masters[leader].cfg, &["promote", "9"]);
    assert!(ok, "promote: {out}");
    let (ok, out) = mfscli(&c.masters[leader].cfg, &["remove-master", &dead_id.to_string()]);
    assert!(ok, "remove-master: {out}");
    let leader = c.wait_leader(LIMIT);
    let s = c.status(leader).expect("status");
    assert!(s.voters.contains(&9) && !s.voters.contains(&dead_id) && s.learners.is_empty(), "{s:?}");

    // The leader dies too: the other master and the promoted metalogger are a majority of three.
    c.kill(leader);
    c.wait_leader(LIMIT);
    let done = writer.done();
    assert!(writer.wait_past(done, 10, LIMIT), "writes go on");
    let written = writer.stop();
    assert!(writer.errors().is_empty(), "the writer saw errors: {:?}", writer.errors());
    assert_eq!(writer.verify(&m.path("w")), Ok(written), "every file reads back");
}
