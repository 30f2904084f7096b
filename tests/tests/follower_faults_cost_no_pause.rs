//! Issue 11: a follower frozen (SIGSTOP) or cut off from every other host (its packets
//! dropped) costs the writer nothing: the leader still has a quorum. Each fault lasts while
//! the writer completes a number of files; nothing fails, and the follower catches up when
//! the fault ends.

use std::time::Duration;

use raftmfs_tests::netns::{freeze, thaw};
use raftmfs_tests::writer::LabRig;

#[test]
fn a_frozen_or_cut_off_follower_costs_nothing() {
    let mut r = LabRig::start(92);
    let leader = r.cluster.wait_leader(Duration::from_secs(10));
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // One follower off the network.
    let cut = r.master_host(followers[0]);
    r.lab.isolate(&cut);
    r.writer.reset_longest();
    let from = r.writer.done();
    let ok = r.writer.wait_past(from, 30, Duration::from_secs(60));
    eprintln!("follower cut off: {} files, longest {:?}", r.writer.done() - from, r.writer.longest());
    r.lab.heal(&cut);
    assert!(ok && r.writer.errors().is_empty(), "writer with a follower cut off: {:?}", r.writer.errors());

    // The other follower frozen.
    let pid = r.cluster.masters[followers[1]].pid().expect("pid");
    freeze(pid);
    r.writer.reset_longest();
    let from = r.writer.done();
    let ok = r.writer.wait_past(from, 30, Duration::from_secs(60));
    eprintln!("follower frozen: {} files, longest {:?}", r.writer.done() - from, r.writer.longest());
    thaw(pid);
    assert!(ok && r.writer.errors().is_empty(), "writer with a follower frozen: {:?}", r.writer.errors());
    assert_eq!(r.cluster.wait_leader(Duration::from_secs(10)), leader, "the leader never changed");

    r.cluster.wait_converged(Duration::from_secs(60));
    r.stop_and_verify();
}
