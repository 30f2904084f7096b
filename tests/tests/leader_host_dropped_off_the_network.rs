//! Issue 11: the leader's host drops off the network (every packet in and out dropped, as a
//! pulled cable or a powered-off machine: no reset ever comes). The mount and the
//! chunkservers must notice the silence, find the new leader and go on while the host stays
//! off; when it comes back it follows, and nothing acknowledged is lost.

use std::time::Duration;

use raftmfs_tests::wait_for;
use raftmfs_tests::writer::LabRig;

#[test]
fn a_leader_whose_host_drops_off_is_replaced() {
    let mut r = LabRig::start(93);
    let old = r.cluster.wait_leader(Duration::from_secs(10));
    let host = r.master_host(old);
    r.lab.isolate(&host);
    r.writer.reset_longest();
    let from = r.writer.done();
    let went_on = r.writer.wait_past(from, 20, Duration::from_secs(60));
    let during = r.writer.done() - from;
    eprintln!("{during} files while the leader's host was off; longest file: {:?}", r.writer.longest());
    let new = (0..3).filter(|&i| i != old).find(|&i| r.cluster.status(i).is_some_and(|s| s.role == "leader"));
    r.lab.heal(&host);
    assert!(went_on, "only {during} files in 60 s while the leader's host was off");
    assert!(new.is_some(), "another master leads while the old leader's host is off");

    r.cluster.wait_converged(Duration::from_secs(60));
    wait_for(Duration::from_secs(30), "the old leader following", || {
        r.cluster.status(old).is_some_and(|s| s.role == "follower" && s.healthy).then_some(())
    });
    r.stop_and_verify();
}
