//! Issue 11: the leader cut off from both followers while clients and chunkservers still
//! reach it (hosts in network namespaces, the cut made with nftables: no reset ever comes).
//! The followers elect a new leader; the old one must stop acting as leader (it commits
//! nothing, so it answers "unavailable", lets its chunkservers go and vouches for no one);
//! the mount and the chunkservers move to the new leader and the writer goes on while the cut
//! lasts. Nothing acknowledged is lost, no operation fails.
//!
//! Before this change (39c8125) the old leader kept its chunkservers (it kept sending them
//! keepalives and they only look elsewhere when it goes quiet), so the new leader had none for
//! new chunks (read from that code; this test was not run against those binaries).

use std::time::Duration;

use raftmfs_tests::wait_for;
use raftmfs_tests::writer::LabRig;

#[test]
fn a_leader_cut_off_from_its_followers_steps_aside() {
    let mut r = LabRig::start(91);
    let old = r.cluster.wait_leader(Duration::from_secs(10));
    let old_host = r.master_host(old);
    for i in (0..3).filter(|&i| i != old) {
        r.lab.cut(&old_host, &r.master_host(i));
    }
    r.writer.reset_longest();
    let at_cut = r.writer.done();
    let went_on = r.writer.wait_past(at_cut, 20, Duration::from_secs(60));
    let new = (0..3).filter(|&i| i != old).find(|&i| r.cluster.status(i).is_some_and(|s| s.role == "leader"));
    // The old leader, still cut off, is not part of a quorum.
    let old_status = r.cluster.status(old);
    let during = r.writer.done() - at_cut;
    eprintln!("{during} files while the leader was cut off; longest file: {:?}", r.writer.longest());
    r.lab.heal_all();
    assert!(went_on, "only {during} files in 60 s while the leader was cut off from its followers");
    assert!(new.is_some(), "a follower leads while the old leader is cut off");
    assert!(old_status.is_some_and(|s| !s.healthy), "the cut-off leader reported itself healthy");

    // Healed: the old leader follows, every master holds the same state, and every
    // acknowledged file is there (a second mount: no page cache).
    r.cluster.wait_converged(Duration::from_secs(60));
    wait_for(Duration::from_secs(30), "the old leader following", || {
        r.cluster.status(old).is_some_and(|s| s.role == "follower" && s.healthy).then_some(())
    });
    r.stop_and_verify();
}
