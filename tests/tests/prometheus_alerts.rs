//! The shipped alert rules (`deploy/prometheus/raftmfs.rules.yml`) in a real Prometheus
//! (Debian's package) scraping a real cluster: a chunkserver killed makes the under-goal alert
//! fire; started again, the alert resolves. The rules are used as shipped but for their `for:`
//! durations, cut to seconds so the test does not wait 15 minutes. Also: only the leader
//! exports the chunk figures (a follower shows no `mfsmaster_chunks_under_goal` and no
//! `mfsmaster_chunkservers_connected` rather than healthy-looking zeros), so Prometheus sees one
//! series of each.
//!
//! One cluster on 127.0.100.x; Prometheus on 127.0.100.1:9090.

use std::time::Duration;

use raftmfs_tests::prometheus::Prometheus;
use raftmfs_tests::{wait_for, Cluster};

const BLOCK: u8 = 100;
const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_lost_chunkserver_fires_the_under_goal_alert_and_its_return_resolves_it() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let mut c = Cluster::with_chunkservers(BLOCK, "", "");
    let m = c.mount(&[]);
    m.goal_files("g2", 2, 6);

    // Only the leader exports what only it knows.
    let leader = c.wait_leader(LIMIT);
    wait_for(LIMIT, "the leader's chunk figures", || {
        c.metrics(leader).filter(|t| t.contains("\nmfsmaster_chunks_under_goal 0")).map(|_| ())
    });
    for i in (0..3).filter(|&i| i != leader) {
        let text = c.metrics(i).expect("a follower's /metrics");
        for leader_only in
            ["mfsmaster_chunks_under_goal", "mfsmaster_chunkservers_connected", "mfsmaster_chunks_missing"]
        {
            assert!(!text.contains(&format!("\n{leader_only} ")), "follower {i} exports {leader_only}");
        }
        assert!(text.contains("mfsmaster_raft_role{role=\"follower\"} 1"), "follower {i}'s role");
    }

    let dir = tempfile::Builder::new().prefix("raftmfs-prometheus-").tempdir().expect("tempdir");
    let p = Prometheus::start(dir.path(), &format!("127.0.{BLOCK}.1:9090"), &c);
    wait_for(LIMIT, "Prometheus scraping the leader's chunk figures", || {
        p.query("count(mfsmaster_chunks_under_goal)").filter(|n| *n >= 1.0)
    });
    assert_eq!(p.query("count(mfsmaster_chunks_under_goal)"), Some(1.0), "one series: the leader's");
    assert_eq!(p.alert_state("RaftMFSChunksUnderGoal"), Some(None), "no alert while every chunk has its copies");

    // A chunkserver that holds copies dies: under goal (replication waits an hour, as MooseFS).
    let victim = (0..3).find(|&i| !c.chunkservers[i].chunk_files().is_empty()).expect("a chunkserver with copies");
    c.kill_chunkserver(victim);
    wait_for(LIMIT, "RaftMFSChunksUnderGoal firing", || {
        p.alert_state("RaftMFSChunksUnderGoal").flatten().filter(|s| s == "firing")
    });
    assert!(p.query("max(mfsmaster_chunks_under_goal)").is_some_and(|n| n > 0.0));
    wait_for(LIMIT, "RaftMFSChunkserverDown firing", || {
        p.alert_state("RaftMFSChunkserverDown").flatten().filter(|s| s == "firing")
    });

    // It comes back with its copies: resolved.
    c.start_chunkserver(victim);
    wait_for(LIMIT, "RaftMFSChunksUnderGoal resolved", || {
        p.alert_state("RaftMFSChunksUnderGoal")?.is_none().then_some(())
    });
    assert_eq!(p.query("max(mfsmaster_chunks_under_goal)"), Some(0.0));
    drop(m);
}
